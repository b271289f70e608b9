// Shared by the reliability scenarios: small pageable copies at distinct call sites.
#pragma once
#include "../testkit.h"

#include <atomic>
#include <csignal>
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <ucontext.h>
#include <thread>
#include <unistd.h>

// When a scenario's program crashes, the harness must know where: in pinguard (a
// defect), or in CUDA's own code with no pinguard frame on the stack (a real CUDA
// runtime torn down at exit under a thread still calling it). The handler writes one
// "reliability: crash frame" line per frame (module and offset), then dies by the same
// signal. Installed before main by a constructor; test code only.
static void rel_write(const char *s) { (void)!write(2, s, strlen(s)); }

static void rel_hex(char *out, uintptr_t v) {
    const char *digits = "0123456789abcdef";
    char tmp[17];
    int n = 0;
    do { tmp[n++] = digits[v & 15]; v >>= 4; } while (v && n < 16);
    int i = 0;
    out[i++] = '0'; out[i++] = 'x';
    while (n) out[i++] = tmp[--n];
    out[i] = 0;
}

static std::atomic<bool> rel_crash_claimed{false};

static void rel_on_crash(int sig, siginfo_t *si, void *uc) {
    // Several threads can crash at once (a runtime torn down under them): the first one
    // reports, the others wait here for the process to die, so the report is whole.
    if (rel_crash_claimed.exchange(true)) {
        for (;;) pause();
    }
    // First what needs no unwinding and no loader lock: the faulting instruction and
    // address, and the process's mappings (open/read/write only), so that a crash while
    // another thread holds the loader lock at exit still says where it was.
    char pc[24], addr[24];
    rel_hex(pc, (uintptr_t)static_cast<ucontext_t *>(uc)->uc_mcontext.gregs[REG_RIP]);
    rel_hex(addr, (uintptr_t)si->si_addr);
    rel_write("reliability: crash pc=");
    rel_write(pc);
    rel_write(" addr=");
    rel_write(addr);
    rel_write("\n");
    int maps = open("/proc/self/maps", O_RDONLY);
    if (maps >= 0) {
        char buf[4096];
        ssize_t n;
        while ((n = read(maps, buf, sizeof buf)) > 0) {
            rel_write("");
            (void)!write(2, buf, (size_t)n);
        }
        close(maps);
    }
    void *frames[48];
    int n = backtrace(frames, 48);
    char line[512];
    for (int i = 0; i < n; ++i) {
        Dl_info info{};
        const char *mod = "?";
        uintptr_t off = (uintptr_t)frames[i];
        if (dladdr(frames[i], &info) && info.dli_fname) {
            mod = info.dli_fname;
            off -= (uintptr_t)info.dli_fbase;
        }
        snprintf(line, sizeof line, "reliability: crash frame #%d: %s+0x%lx (signal %d)\n", i, mod, (unsigned long)off, sig);
        rel_write(line);
    }
    signal(sig, SIG_DFL);
    raise(sig); // the default action: the process dies by the same signal
}

__attribute__((constructor)) static void rel_install_crash_reporter() {
    void *warm[2];
    (void)backtrace(warm, 2); // loads the unwinder now, not inside the handler
    struct sigaction sa {};
    sa.sa_sigaction = rel_on_crash;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE}) sigaction(sig, &sa, nullptr);
}

struct rel_copier {
    tk_stream s;
    void *dev;
    unsigned char host[256];
    rel_copier() {
        s = tk_stream_create();
        dev = tk_device_alloc(sizeof host);
        memset(host, 1, sizeof host);
    }
    // Each of these is a call site of its own. The result is not checked: in a forked
    // child the real driver refuses every call, and pinguard still sees the copy.
    __attribute__((noinline)) int site_a() { return tk_memcpy_async(dev, host, sizeof host, TK_H2D, s); }
    __attribute__((noinline)) int site_b() { return tk_memcpy_async(dev, host, sizeof host, TK_H2D, s); }
    __attribute__((noinline)) int site_c() { return tk_memcpy_async(dev, host, sizeof host, TK_H2D, s); }
    __attribute__((noinline)) int site(int k) {
        switch (k % 4) {
        case 0: return site_a();
        case 1: return site_b();
        case 2: return site_c();
        default: return tk_memcpy_async(dev, host, sizeof host, TK_H2D, s);
        }
    }
};

static inline long rel_arg(int argc, char **argv, int i, long dflt) { return argc > i ? atol(argv[i]) : dflt; }
