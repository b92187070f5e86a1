OPENQASM 2.0;
include "qelib1.inc";
gate g0 a { x a; }
gate g1 a { g0 a; g0 a; }
gate g2 a { g1  a; }
gate g3 a { g2 a; g2 a; }
qreg q[2];
g3 q;
rz(((((((1)))))) + (-(-(-)))) q[0];
