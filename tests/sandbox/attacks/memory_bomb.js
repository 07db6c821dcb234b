const hoard = [];
for (;;) {
  hoard.push(Buffer.alloc(8 * 1024 * 1024, 1));
}
