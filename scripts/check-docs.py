#!/usr/bin/env python3
"""Every link in README.md and docs/*.md resolves inside the repository: the file exists and, for a
`#section`, the section is a heading of that file (GitHub's anchors). Also: README.md under 200 lines.
Exit 1 with each broken link."""
import glob
import os
import re
import sys

def anchors(path):
    found = set()
    for line in open(path):
        m = re.match(r'#+\s+(.*)', line)
        if m:
            text = m.group(1).strip().lower()
            text = re.sub(r'[^\w\- ]', '', text)
            found.add(text.replace(' ', '-'))
    return found

broken = []
pages = ['README.md'] + sorted(glob.glob('docs/*.md'))
for page in pages:
    text = open(page).read()
    # code blocks hold commands, not links
    text = re.sub(r'```.*?```', '', text, flags=re.S)
    for target in re.findall(r'\]\(([^)\s]+)\)', text):
        if re.match(r'[a-z]+:', target):
            broken.append(f"{page}: {target} leaves the repository")
            continue
        file, _, anchor = target.partition('#')
        path = os.path.normpath(os.path.join(os.path.dirname(page), file)) if file else page
        if not os.path.exists(path):
            broken.append(f"{page}: {target}: no file {path}")
        elif anchor and path.endswith('.md') and anchor not in anchors(path):
            broken.append(f"{page}: {target}: no section #{anchor} in {path}")
lines = open('README.md').read().count('\n')
if lines >= 200:
    broken.append(f"README.md has {lines} lines: keep it under 200, and move reference material to docs/")
for b in broken:
    print(b, file=sys.stderr)
sys.exit(1 if broken else 0)
