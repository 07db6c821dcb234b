for f in /etc/shadow /etc/passwd /tmp/atlas-sandbox-canary /root/.bashrc; do
  if content=$(cat "$f" 2>/dev/null); then echo "ESCAPED: $f ${content:0:200}"; else echo "blocked $f"; fi
done
echo "environ: $(env)"
