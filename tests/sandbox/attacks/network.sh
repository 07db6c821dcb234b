read -r port
for target in "127.0.0.1/$port" "1.1.1.1/80"; do
  if (exec 3<>"/dev/tcp/$target") 2>/dev/null; then echo "ESCAPED: connected to $target"; else echo "blocked $target"; fi
done
