/*
 * orchestrator/main.c — entry point of the hqcnn command; all work is in orchestrator/cli.c.
 */
#include "orchestrator/orchestrator.h"

int main(int argc, char **argv) { return hq_cli_main(argc, argv); }
