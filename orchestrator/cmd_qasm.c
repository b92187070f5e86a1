/*
 * orchestrator/cmd_qasm.c — `hqcnn qasm run|convert|draw FILE`.
 * Placeholder dispatch until the OpenQASM parser and simulators land.
 */
#include <string.h>

#include "orchestrator/orchestrator.h"

int hq_cmd_qasm(int argc, char **argv) {
    if (argc < 2) return hq_cli_usage("hqcnn qasm run|convert FILE [options]");
    return hq_cli_error("'hqcnn qasm %s' is not available in this build yet", argv[1]);
}
