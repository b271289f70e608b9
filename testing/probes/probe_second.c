/* Second library: the definition RTLD_NEXT must find from probe_first. */
int probe_value(void) { return 2; }
