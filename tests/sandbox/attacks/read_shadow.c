#include <stdio.h>
int main(void) {
    const char *paths[] = {"/etc/shadow", "/etc/passwd", "/root/.bashrc"};
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen(paths[i], "r");
        if (!f) { printf("blocked %s\n", paths[i]); continue; }
        char buf[256] = {0};
        fread(buf, 1, sizeof buf - 1, f);
        printf("ESCAPED: %s %s\n", paths[i], buf);
    }
    return 0;
}
