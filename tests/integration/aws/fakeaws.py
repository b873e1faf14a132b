#!/usr/bin/env python3
"""fakeaws.py — a fake AWS for metacrawl's tests, on loopback.

It serves, on one port, what metacrawl asks AWS for, and answers the way
AWS documents it:

  POST /  Action=GetClusterCredentials   (Redshift Query API, XML; errors XML)
  POST /  Action=AssumeRole              (STS, XML)
  POST /  Action=AssumeRoleWithWebIdentity  (STS, XML, unsigned)
  POST /  X-Amz-Target: RedshiftServerless.GetCredentials  (JSON 1.1)
  POST /  X-Amz-Target: secretsmanager.GetSecretValue     (JSON 1.1)
  GET  /ecs-credentials                  (the container endpoint, JSON)
  PUT  /latest/api/token, GET /latest/meta-data/iam/security-credentials/[ROLE]
                                         (EC2 IMDSv2)

Every signed request is verified: the SigV4 signature is recomputed from
the request as it arrived, with the secret key the test configured for the
access key id, and compared; the session token must be sent, and signed,
when the key has one.  Answers hand out the database password the test
configured, so the harness's PostgreSQL accepts it.

Usage:
  fakeaws.py --config FILE --port-file FILE --log FILE
      the config is JSON (keys below); the port is written once listening;
      each request appends one JSON line to the log: service, action,
      akid, params, outcome ("ok" or the error code), and for signed
      requests the canonical request and the Authorization header.
  fakeaws.py --self-test DIR
      recomputes the .authz of every .creq in DIR (AWS's test vectors)
      and exits 1 on any difference: the verifier itself is checked.

Config keys:
  keys: {AKID: {"secret": S, "token": T|null, "expired": bool, "skew": bool}}
        "skew": false skips the clock check (the 2015 test vectors)
  denied: [AKID...]               AccessDenied for these keys
  clusters: [ID...]  workgroups: [NAME...]   what exists (else not found)
  db_password: S                  the password GetClusterCredentials / GetCredentials hand out
  db_expires_in: SECONDS          when it expires (default 900)
  serverless_user: "IAMR:role"    Serverless's dbUser
  roles: {ARN: {"akid":..,"secret":..,"token":..}}   AssumeRole* hands these out
  web_token: S                    the token AssumeRoleWithWebIdentity accepts
  container_auth: S               the Authorization the container endpoint wants
  container_creds / imds_creds: {"akid":..,"secret":..,"token":..}
  imds_role: NAME
  secrets: {NAME: STRING}         Secrets Manager
"""
import argparse
import datetime
import hashlib
import hmac
import http.server
import json
import os
import random
import socket
import sys
import urllib.parse
from xml.sax.saxutils import escape

CFG = {}
LOG = None
IMDS_TOKENS = set()


def log(entry):
    with open(LOG, 'a', encoding='utf-8') as f:
        f.write(json.dumps(entry, sort_keys=True) + '\n')


# ---- SigV4 -------------------------------------------------------------------

def sha256_hex(b):
    return hashlib.sha256(b).hexdigest()


def signing_key(secret, date, region, service):
    k = hmac.new(('AWS4' + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, 'aws4_request'):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def signature_for(creq, secret, amz_date, scope):
    date, region, service, _ = scope.split('/')
    sts = '\n'.join(['AWS4-HMAC-SHA256', amz_date, scope, sha256_hex(creq.encode())])
    return hmac.new(signing_key(secret, date, region, service), sts.encode(),
                    hashlib.sha256).hexdigest()


def canonical_query(q):
    pairs = urllib.parse.parse_qsl(q, keep_blank_values=True)
    enc = sorted((urllib.parse.quote(k, safe='-_.~'), urllib.parse.quote(v, safe='-_.~'))
                 for k, v in pairs)
    return '&'.join(k + '=' + v for k, v in enc)


def canonical_request(method, path, query, headers, signed, body, dedupe=False):
    lines = []
    for name in signed:
        vals = headers.get_all(name) or []
        if dedupe:
            vals = list(dict.fromkeys(vals))
        lines.append(name + ':' + ','.join(' '.join(v.strip().split()) for v in vals))
    return '\n'.join([method, urllib.parse.quote(path, safe='/-_.~'), canonical_query(query),
                      '\n'.join(lines) + '\n', ';'.join(signed), sha256_hex(body)])


class Refusal(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def verify(handler, body, want_service):
    """The access key id of a correctly signed request, else Refusal."""
    auth = handler.headers.get('Authorization', '')
    if not auth.startswith('AWS4-HMAC-SHA256 '):
        raise Refusal(403, 'MissingAuthenticationToken', 'Request is missing Authentication Token')
    parts = dict(p.strip().split('=', 1) for p in auth[len('AWS4-HMAC-SHA256 '):].split(','))
    cred, signed, sig = parts.get('Credential', ''), parts.get('SignedHeaders', ''), parts.get('Signature', '')
    akid, _, scope = cred.partition('/')
    signed = signed.split(';')
    entry = handler.entry
    entry['akid'] = akid
    entry['authorization'] = auth
    key = CFG.get('keys', {}).get(akid)
    if key is None:
        raise Refusal(403, 'InvalidClientTokenId',
                      'The security token included in the request is invalid.')
    if 'host' not in signed or 'x-amz-date' not in signed:
        raise Refusal(403, 'IncompleteSignature', 'host and x-amz-date must be signed')
    amz_date = handler.headers.get_all('X-Amz-Date')[0]
    if scope.split('/')[2:3] != [want_service]:
        raise Refusal(403, 'SignatureDoesNotMatch', 'Credential should be scoped to correct service: \'%s\'.' % want_service)
    if key.get('skew', True):
        t = datetime.datetime.strptime(amz_date, '%Y%m%dT%H%M%SZ').replace(tzinfo=datetime.timezone.utc)
        if abs((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()) > 900:
            raise Refusal(403, 'RequestTimeTooSkewed', 'Signature expired')
    u = urllib.parse.urlsplit(handler.path)
    # The vectors' key: libcurl 7.88 sends a caller's X-Amz-Date once more
    # after its own Authorization line (same value); the vectors have one.
    creq = canonical_request(handler.command, u.path, u.query, handler.headers, signed, body,
                             dedupe=akid == 'AKIDEXAMPLE')
    entry['canonical_request'] = creq
    if not hmac.compare_digest(signature_for(creq, key['secret'], amz_date, scope), sig):
        raise Refusal(403, 'SignatureDoesNotMatch',
                      'The request signature we calculated does not match the signature you provided.')
    token = key.get('token')
    if token is not None:
        if handler.headers.get('X-Amz-Security-Token') != token or 'x-amz-security-token' not in signed:
            raise Refusal(403, 'InvalidClientTokenId',
                          'The security token included in the request is invalid.')
    if key.get('expired'):
        raise Refusal(403, 'ExpiredToken', 'The security token included in the request is expired')
    if akid in CFG.get('denied', []):
        raise Refusal(403, 'AccessDenied' if want_service != 'secretsmanager' and want_service != 'redshift-serverless' else 'AccessDeniedException',
                      'User: arn:aws:sts::123456789012:assumed-role/x/%s is not authorized to perform: %s'
                      % (akid, handler.entry.get('action', '')))
    return akid


# ---- answers --------------------------------------------------------------------

def iso(seconds_from_now):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return t.strftime('%Y-%m-%dT%H:%M:%S.000Z'), t.timestamp()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass

    def reply(self, status, ctype, text):
        data = text.encode()
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def xml_error(self, r, ns):
        self.reply(r.status, 'text/xml',
                   '<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code>'
                   '<Message>%s</Message></Error><RequestId>fake-1</RequestId></ErrorResponse>'
                   % (ns, escape(r.code), escape(r.message)))

    def json_error(self, r):
        self.reply(r.status if r.status != 403 or r.code.startswith('AccessDenied') else 400,
                   'application/x-amz-json-1.1',
                   json.dumps({'__type': r.code, 'message': r.message}))

    def finish_entry(self, outcome):
        self.entry['outcome'] = outcome
        log(self.entry)

    def body(self):
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n)

    # ---- metadata endpoints (unsigned) ----
    def do_PUT(self):
        self.entry = {'service': 'imds', 'action': 'token', 'path': self.path}
        self.body()
        if self.path != '/latest/api/token' or 'X-aws-ec2-metadata-token-ttl-seconds' not in self.headers:
            self.finish_entry('bad request')
            return self.reply(400, 'text/plain', 'bad request')
        tok = 'imds-token-%08x' % random.getrandbits(32)
        IMDS_TOKENS.add(tok)
        self.finish_entry('ok')
        self.reply(200, 'text/plain', tok)

    def do_GET(self):
        self.entry = {'service': 'metadata', 'path': self.path}
        if self.path == '/ecs-credentials':
            self.entry['service'] = 'container'
            if self.headers.get('Authorization') != CFG.get('container_auth'):
                self.finish_entry('unauthorized')
                return self.reply(401, 'application/json', json.dumps({'code': 'Unauthorized', 'message': 'bad token'}))
            return self.creds_json(CFG['container_creds'])
        if self.path.startswith('/latest/meta-data/iam/security-credentials/'):
            self.entry['service'] = 'imds'
            if self.headers.get('X-aws-ec2-metadata-token') not in IMDS_TOKENS:
                self.finish_entry('unauthorized')
                return self.reply(401, 'text/plain', '')
            role = self.path[len('/latest/meta-data/iam/security-credentials/'):]
            if role == '':
                self.finish_entry('ok')
                return self.reply(200, 'text/plain', CFG['imds_role'])
            if role != CFG['imds_role']:
                self.finish_entry('not found')
                return self.reply(404, 'text/plain', '')
            return self.creds_json(CFG['imds_creds'], code=True)
        self.finish_entry('not found')
        self.reply(404, 'text/plain', 'not found')

    def creds_json(self, c, code=False):
        exp, _ = iso(3600)
        d = {'AccessKeyId': c['akid'], 'SecretAccessKey': c['secret'], 'Token': c['token'],
             'Expiration': exp}
        if code:
            d.update({'Code': 'Success', 'Type': 'AWS-HMAC', 'LastUpdated': exp})
        self.finish_entry('ok')
        self.reply(200, 'application/json', json.dumps(d))

    # ---- the services ----
    def do_POST(self):
        body = self.body()
        target = self.headers.get('X-Amz-Target')
        self.entry = {'path': self.path}
        if 'Credential=AKIDEXAMPLE/' in self.headers.get('Authorization', ''):
            # the SigV4 test vectors' key: verify and record, nothing else
            self.entry.update({'service': 'vector', 'action': 'vector'})
            try:
                verify(self, body, 'service')
            except Refusal as r:
                self.finish_entry(r.code)
                return self.reply(r.status, 'text/plain', r.code)
            self.finish_entry('ok')
            return self.reply(200, 'text/plain', 'ok')
        if target:
            return self.json_service(target, body)
        params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        action = params.get('Action', '')
        self.entry.update({'action': action, 'params': {k: v for k, v in params.items() if k != 'WebIdentityToken'}})
        if action == 'GetClusterCredentials':
            self.entry['service'] = 'redshift'
            return self.get_cluster_credentials(body, params)
        if action in ('AssumeRole', 'AssumeRoleWithWebIdentity'):
            self.entry['service'] = 'sts'
            return self.sts(body, params, action)
        self.finish_entry('unknown action')
        self.reply(400, 'text/xml', '<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>')

    def get_cluster_credentials(self, body, p):
        ns = 'http://redshift.amazonaws.com/doc/2012-12-01/'
        try:
            verify(self, body, 'redshift')
            if p.get('ClusterIdentifier') not in CFG.get('clusters', []):
                raise Refusal(404, 'ClusterNotFound', 'Cluster %s not found.' % p.get('ClusterIdentifier'))
        except Refusal as r:
            self.finish_entry(r.code)
            return self.xml_error(r, ns)
        prefix = 'IAMA:' if p.get('AutoCreate') == 'true' else 'IAM:'
        exp, _ = iso(CFG.get('db_expires_in', 900))
        self.finish_entry('ok')
        self.reply(200, 'text/xml',
                   '<GetClusterCredentialsResponse xmlns="%s"><GetClusterCredentialsResult>'
                   '<DbUser>%s</DbUser><Expiration>%s</Expiration><DbPassword>%s</DbPassword>'
                   '</GetClusterCredentialsResult><ResponseMetadata><RequestId>fake-2</RequestId>'
                   '</ResponseMetadata></GetClusterCredentialsResponse>'
                   % (ns, escape(prefix + p.get('DbUser', '')), exp, escape(CFG['db_password'])))

    def sts(self, body, p, action):
        ns = 'https://sts.amazonaws.com/doc/2011-06-15/'
        try:
            if action == 'AssumeRole':
                verify(self, body, 'sts')
            elif p.get('WebIdentityToken') != CFG.get('web_token'):
                raise Refusal(400, 'InvalidIdentityToken', 'The web identity token is not valid')
            role = CFG.get('roles', {}).get(p.get('RoleArn'))
            if role is None:
                raise Refusal(403, 'AccessDenied', 'Not authorized to perform sts:%s' % action)
        except Refusal as r:
            self.finish_entry(r.code)
            return self.xml_error(r, ns)
        exp, _ = iso(3600)
        self.finish_entry('ok')
        self.reply(200, 'text/xml',
                   '<%sResponse xmlns="%s"><%sResult><Credentials>'
                   '<AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>'
                   '<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>'
                   '<AssumedRoleUser><Arn>%s/metacrawl</Arn><AssumedRoleId>AROAFAKE:metacrawl</AssumedRoleId></AssumedRoleUser>'
                   '</%sResult><ResponseMetadata><RequestId>fake-3</RequestId></ResponseMetadata></%sResponse>'
                   % (action, ns, action, role['akid'], escape(role['secret']), escape(role['token']), exp,
                      escape(p.get('RoleArn')), action, action))

    def json_service(self, target, body):
        service, _, action = target.partition('.')
        signing = {'RedshiftServerless': 'redshift-serverless', 'secretsmanager': 'secretsmanager'}.get(service, '?')
        self.entry.update({'service': signing, 'action': action})
        try:
            req = json.loads(body.decode() or '{}')
            self.entry['params'] = req
            verify(self, body, signing)
            if action == 'GetCredentials':
                if req.get('workgroupName') not in CFG.get('workgroups', []):
                    raise Refusal(400, 'ResourceNotFoundException', 'Workgroup %s not found' % req.get('workgroupName'))
                _, ts = iso(CFG.get('db_expires_in', 900))
                ans = {'dbUser': CFG.get('serverless_user', 'IAMR:metacrawl'), 'dbPassword': CFG['db_password'],
                       'expiration': ts, 'nextRefreshTime': ts}
            elif action == 'GetSecretValue':
                sid = req.get('SecretId')
                if sid not in CFG.get('secrets', {}):
                    raise Refusal(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.")
                ans = {'ARN': 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:%s-AbCdEf' % sid, 'Name': sid,
                       'SecretString': CFG['secrets'][sid], 'VersionId': 'v1', 'VersionStages': ['AWSCURRENT'],
                       'CreatedDate': 1.7e9}
            else:
                raise Refusal(400, 'UnknownOperationException', target)
        except Refusal as r:
            self.finish_entry(r.code)
            return self.json_error(r)
        self.finish_entry('ok')
        self.reply(200, 'application/x-amz-json-1.1', json.dumps(ans))


def self_test(d):
    secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
    bad = 0
    for name in sorted(os.listdir(d)):
        if not name.endswith('.creq'):
            continue
        case = name[:-5]
        creq = open(os.path.join(d, name), encoding='utf-8').read()
        want = open(os.path.join(d, case + '.authz'), encoding='utf-8').read().strip()
        signed = creq.split('\n')[-2]
        sig = signature_for(creq, secret, '20150830T123600Z', '20150830/us-east-1/service/aws4_request')
        got = ('AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, '
               'SignedHeaders=%s, Signature=%s' % (signed, sig))
        print('%s: %s' % (case, 'ok' if got == want else 'DIFFERS\n  got  %s\n  want %s' % (got, want)))
        bad += got != want
    return 1 if bad else 0


def main():
    global CFG, LOG
    ap = argparse.ArgumentParser()
    ap.add_argument('--config')
    ap.add_argument('--port-file')
    ap.add_argument('--log')
    ap.add_argument('--self-test')
    a = ap.parse_args()
    if a.self_test:
        sys.exit(self_test(a.self_test))
    CFG = json.load(open(a.config, encoding='utf-8'))
    LOG = a.log
    # A random port in 20000-60000, retried when taken (as the harness does
    # for PostgreSQL and sshd).
    for _ in range(20):
        port = random.randint(20000, 60000)
        try:
            srv = http.server.ThreadingHTTPServer(('127.0.0.1', port), Handler)
            break
        except OSError:
            continue
    else:
        print('fakeaws: no free port', file=sys.stderr)
        sys.exit(1)
    tmp = a.port_file + '.tmp'
    with open(tmp, 'w') as f:
        f.write(str(port))
    os.rename(tmp, a.port_file)
    srv.serve_forever()


if __name__ == '__main__':
    main()
