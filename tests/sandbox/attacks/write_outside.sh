for f in /atlas_pwned /usr/atlas_pwned /usr/bin/atlas_pwned /sandbox/atlas_pwned /dev/atlas_pwned; do
  if (echo pwned > "$f") 2>/dev/null; then echo "ESCAPED: wrote $f"; else echo "blocked $f"; fi
done
cp /usr/bin/ls /tmp/ls 2>/dev/null && /tmp/ls / >/dev/null 2>&1 && echo "ESCAPED: executed from noexec /tmp"
echo done
