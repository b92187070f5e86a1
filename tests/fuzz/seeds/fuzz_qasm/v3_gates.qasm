OPENQASM 3.0;
include "stdgates.inc";
#pragma something for other compilers
gate mine(a) x, y { cphase(a / 2) x, y; gphase(a); phase(-a) y; }
gate twice(a) x, y { mine(a) x, y; mine(2*a) y, x; }
qubit[3] q;
@annotation here
twice(τ/8) q[0], q[2];
CX q[0], q[1];
U(π, 0, π) q[2];
gphase(0.5);
iswap q[0], q[1];
gpi(0.25) q[2];
gpi2(0.125) q[0];
ms(0, 0.5, 0.25) q[1], q[2];
