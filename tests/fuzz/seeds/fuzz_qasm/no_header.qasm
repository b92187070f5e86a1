qubit q;
h q;
