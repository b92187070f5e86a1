// leading comment
OPENQASM 2.0; // trailing
/* block
   comment */
include "qelib1.inc";
qreg q[1]; /* inline */ creg c[1];
h q[0];	// tab
measure q[0] -> c[0];
