#include <stdio.h>
#include <sys/ptrace.h>
#include <unistd.h>
int main(void) {
    if (ptrace(PTRACE_ATTACH, getppid(), 0, 0) == 0) printf("ESCAPED: attached to parent\n");
    else perror("blocked ptrace");
    if (ptrace(PTRACE_TRACEME, 0, 0, 0) == 0) printf("ESCAPED: traceme\n");
    else perror("blocked traceme");
    return 0;
}
