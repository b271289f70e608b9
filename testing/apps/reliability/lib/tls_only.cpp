// A library with nothing but thread-locals, as many bytes as libpinguard.so has (408):
// the baseline of the stack scenarios. glibc carves every thread's static TLS from its
// stack and places each library's block at its alignment; CUDA 13's shared runtime has a
// 4 KiB block aligned to 4 KiB, so any library preloaded before it with thread-locals
// (pinguard, or this one) costs every thread one more page of its stack (measured on an
// H100: 8 bytes of TLS cost the same page as 2 KiB; scripts/gpu/probe-tls-share.sh). The
// scenarios tell that page, which no preloaded library with thread-locals can avoid, from
// what pinguard's own frames take.
__thread char tls_only_pad[408];

extern "C" __attribute__((visibility("default"))) char *tls_only_touch() { return tls_only_pad; }
