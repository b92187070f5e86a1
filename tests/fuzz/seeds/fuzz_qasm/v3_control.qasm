OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
qubit r;
bit[2] c;
h q;
c = measure q;
if (c == 2) { x r; reset q[0]; c[0] = measure r; }
if (c == 1) z r;
bit b = measure r;
measure q[1] -> c[1];
barrier;
