OPENQASM 3.0;
include "stdgates.inc";
input float[64] ngpiQASM;
