OPENQASM 2.0;
include "qelib1.inc";
gate rot(a, b) q { rz(a) q; ry(b / 2) q; }
gate pair(t) q, r { rot(t, 2*t) q; cx q, r; rot(-t, t^2) r; barrier q, r; }
gate outer(t, s) a, b, c { pair(t + s) c, a; U(t, s, 0) b; CX b, a; }
qreg x[2];
qreg y[1];
outer(0.3, -0.7) x[1], y[0], x[0];
pair(pi/3) x[0], x[1];
