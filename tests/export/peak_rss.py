#!/usr/bin/env python3
"""peak_rss.py PROGRAM ARGS... — runs the program (its output to /dev/null)
and prints the peak resident memory of it in kB (getrusage of the waited-for
child), exiting with its status; for the streaming test of `export`."""
import resource
import subprocess
import sys

p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
if p.returncode != 0:
    sys.stderr.write(p.stderr.decode(errors="replace"))
    sys.exit(p.returncode if p.returncode > 0 else 1)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
