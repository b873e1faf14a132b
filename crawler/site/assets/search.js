/* metacrawl docs: client-side search over the prebuilt index in search/.
 * Results are built from text nodes only: nothing from the index is ever
 * parsed as HTML. */
(function () {
  'use strict';
  var MAX = 200, PARALLEL = 4, chunks = [], nChunks = -1, loaded = 0, next = 0;
  var multi = false, names = [], order = {};
  var query = '', timer = null, lastRender = 0, input, status, list;
  var SAFE_URL = /^[a-z0-9_\-\/.]+$/;

  /* The fragment id of a column: the same rule as the pages (site.c put_id). */
  function enc(s) {
    var b = new TextEncoder().encode(s), o = '';
    for (var i = 0; i < b.length; i++) {
      var x = b[i];
      o += (x >= 97 && x <= 122) || (x >= 48 && x <= 57) || x === 95 ?
        String.fromCharCode(x) : '-' + (x < 16 ? '0' : '') + x.toString(16);
    }
    return o || '-';
  }

  /* One string per chunk, entries separated by U+0000 and each entry's name
   * from its comment by U+0001: a search is a few indexOf calls. */
  function prepare(i, data) {
    var parts = [], starts = [], nameEnd = [], ent = [], pos = 0;
    function add(name, comment, c, f) {
      var n = '\u0000' + name.toLowerCase();
      var s = n + '\u0001' + (comment ? String(comment).toLowerCase() : '');
      starts.push(pos); nameEnd.push(pos + n.length); ent.push(c, f);
      parts.push(s); pos += s.length;
    }
    for (var c = 0; c < data.length; c++) {
      var d = data[c], fs = d[6];
      add(d[3], d[5], c, -1);
      for (var k = 0; k < fs.length; k += 3) add(fs[k], fs[k + 2], c, k / 3);
    }
    return { i: i, data: data, hay: parts.join(''), starts: starts,
             nameEnd: nameEnd, ent: ent };
  }

  /* Tiers: exact name, name prefix, name substring, comment; containers
   * before columns within a tier. */
  function find(ch, q, out) {
    var hay = ch.hay, st = ch.starts, n = st.length, i = hay.indexOf(q);
    while (i >= 0) {
      var lo = 0, hi = n - 1;
      while (lo < hi) {
        var mid = (lo + hi + 1) >> 1;
        if (st[mid] <= i) lo = mid; else hi = mid - 1;
      }
      var tier;
      if (i < ch.nameEnd[lo]) {
        if (i === st[lo] + 1) tier = q.length === ch.nameEnd[lo] - st[lo] - 1 ? 0 : 2;
        else tier = 4;
      } else tier = 6;
      out.push({ t: tier + (ch.ent[2 * lo + 1] >= 0 ? 1 : 0), ch: ch, k: lo });
      if (lo + 1 >= n) break;
      i = hay.indexOf(q, st[lo + 1]);
    }
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  function item(r) {
    var ch = r.ch, f = ch.ent[2 * r.k + 1], d = ch.data[ch.ent[2 * r.k]];
    var label = (multi ? d[1] + ': ' : '') + d[2] + '.' + d[3], href = d[0];
    var kind = d[4], comment = d[5];
    if (f >= 0) {
      label += '.' + d[6][3 * f];
      href += '#col-' + enc(d[6][3 * f]);
      kind = d[6][3 * f + 1];
      comment = d[6][3 * f + 2];
    }
    var li = el('li'), a = el('a', null, label);
    if (SAFE_URL.test(d[0])) a.setAttribute('href', href);
    li.appendChild(a);
    li.appendChild(el('span', 'kind', kind));
    if (comment) {
      comment = String(comment);
      li.appendChild(el('span', 'comment',
        comment.length > 240 ? comment.slice(0, 240) + '\u2026' : comment));
    }
    return li;
  }

  function render() {
    lastRender = Date.now();
    while (list.firstChild) list.removeChild(list.firstChild);
    var more = loaded < nChunks || nChunks < 0 ?
      ' (loading the index: ' + loaded + ' of ' + (nChunks < 0 ? '?' : nChunks) +
      ' parts)' : '';
    if (!query) { status.textContent = more ? 'Loading the index' + more : ''; return; }
    var out = [];
    for (var c = 0; c < chunks.length; c++) if (chunks[c]) find(chunks[c], query, out);
    out.sort(function (x, y) { return x.t - y.t || x.ch.i - y.ch.i || x.k - y.k; });
    var frag = document.createDocumentFragment();
    for (var r = 0; r < out.length && r < MAX; r++) frag.appendChild(item(out[r]));
    list.appendChild(frag);
    var s = out.length + (out.length === 1 ? ' match' : ' matches');
    if (out.length > MAX) s += ', the first ' + MAX + ' shown: refine the search';
    status.textContent = s + more;
    document.body.setAttribute('data-search-state', more ? 'loading' : 'done');
  }

  function norm(q) { return q.replace(/[\u0000\u0001]/g, '').trim().toLowerCase(); }

  function setQuery(q, now) {
    clearTimeout(timer);
    timer = setTimeout(function () {
      query = norm(q);
      try {
        history.replaceState(null, '', '?q=' + encodeURIComponent(q));
      } catch (e) { /* file:// may refuse; the search works without it */ }
      render();
    }, now ? 0 : 120);
  }

  function loadNext() {
    if (next >= nChunks) return;
    var s = document.createElement('script');
    s.src = 'search/' + names[next++] + '.js';
    s.onerror = function () { status.textContent = 'Cannot load ' + s.src; };
    document.head.appendChild(s);
  }

  window.mcSearch = {
    index: function (meta) {
      names = meta.chunks; nChunks = names.length; multi = meta.datastores > 1;
      for (var k = 0; k < nChunks; k++) order[names[k]] = k;
      if (!nChunks) render();
      for (var i = 0; i < PARALLEL; i++) loadNext();
    },
    chunk: function (name, data) {
      var i = order[name];
      if (i === undefined || chunks[i]) return;
      chunks[i] = prepare(i, data); loaded++;
      if (loaded === nChunks || Date.now() - lastRender > 250) render();
      loadNext();
    }
  };

  document.addEventListener('DOMContentLoaded', function () {
    input = document.getElementById('q');
    status = document.getElementById('status');
    list = document.getElementById('results');
    var q = new URLSearchParams(location.search).get('q') || '';
    input.value = q;
    query = norm(q);
    input.addEventListener('input', function () { setQuery(input.value, false); });
    document.getElementById('search-form').addEventListener('submit', function (e) {
      e.preventDefault(); setQuery(input.value, true);
    });
    render();
    var s = document.createElement('script');
    s.src = 'search/index.js';
    s.onerror = function () { status.textContent = 'Cannot load the search index'; };
    document.head.appendChild(s);
  });
})();
