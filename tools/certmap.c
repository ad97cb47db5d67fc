/*
 * certmap - the command-line tool (placeholder: being written).
 */
#include <stdio.h>

int main(void)
{
    fputs("certmap: not written yet\n", stderr);
    return 2;
}
