OPENQASM 2.0;
include "qelib1.inc";
opaque magic(theta) a, b;
qreg q[2];
h q;
