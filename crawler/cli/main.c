/*
 * main.c — the metacrawl binary: everything else is in the library so the
 * tests link the same code.
 */
#include "cli.h"

#include <locale.h>
#include <signal.h>

int main(int argc, char **argv)
{
    /* A closed stdout (metacrawl crawl --json | head) must not kill a crawl
     * half-way through writing the store. */
    signal(SIGPIPE, SIG_IGN);
    setlocale(LC_CTYPE, "");
    return cli_main(argc, argv);
}
