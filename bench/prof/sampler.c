// A sampling profiler for a machine without perf (the GPU machine has neither perf nor
// hardware counters): preloaded beside pinguard, it interrupts the main thread every
// SAMPLER_US microseconds of wall time (a CLOCK_MONOTONIC timer aimed at that thread,
// high-resolution, unlike the CPU-time timers, which fire on the scheduler's tick), keeps
// the interrupted instruction address, and at exit writes one line per distinct address:
//
//   COUNT MODULE OFFSET        (OFFSET: the address in MODULE's link-time terms, for
//                               addr2line -e MODULE / nm; scripts/gpu/sample-report.py)
//
// after one line per loaded module, `# build-id MODULE HEX`, so that the addresses are
// named only from the very build that ran (a file at the same path elsewhere may not be).
//
// to SAMPLER_OUT. The handler only stores a word; everything else happens at exit.
// A benchmark tool, never loaded by pinguard itself.
//
//   gcc -O2 -shared -fPIC bench/prof/sampler.c -o libsampler.so -lrt
//   SAMPLER_OUT=samples.txt LD_PRELOAD=./libsampler.so:libpinguard.so ./app
#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_SAMPLES (1 << 22)

static uintptr_t samples[MAX_SAMPLES];
static volatile sig_atomic_t taken;
static timer_t timer;
static int armed;

static void on_sample(int sig, siginfo_t *info, void *context) {
    (void)sig;
    (void)info;
    ucontext_t *uc = context;
    int i = taken;
    if (i < MAX_SAMPLES) {
        samples[i] = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
        taken = i + 1;
    }
}

__attribute__((constructor)) static void start(void) {
    const char *us = getenv("SAMPLER_US");
    long period_us = us ? atol(us) : 50;
    if (period_us <= 0 || !getenv("SAMPLER_OUT")) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sample;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, NULL);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGPROF;
    ev._sigev_un._tid = gettid();
    if (timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0) return;
    struct itimerspec it = {{period_us / 1000000, (period_us % 1000000) * 1000},
                            {period_us / 1000000, (period_us % 1000000) * 1000}};
    timer_settime(timer, 0, &it, NULL);
    armed = 1;
}

struct where {
    uintptr_t address;
    const char *module;
    uintptr_t offset;
};

static int find(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct where *w = data;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (w->address >= start && w->address < start + ph->p_memsz) {
            w->module = info->dlpi_name;
            w->offset = w->address - info->dlpi_addr;
            return 1;
        }
    }
    return 0;
}

// Writes `# build-id MODULE HEX` for a loaded module with a GNU build-id note.
static int write_build_id(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    FILE *out = data;
    const char *name = info->dlpi_name[0] ? info->dlpi_name : NULL;
    char exe[4096];
    if (!name) {
        ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[len > 0 ? len : 0] = 0;
        name = exe;
    }
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) continue;
        const unsigned char *at = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        const unsigned char *end = at + ph->p_memsz;
        while (at + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)at;
            const unsigned char *desc = at + sizeof *n + ((n->n_namesz + 3) & ~3u);
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && !memcmp(at + sizeof *n, "GNU", 4) &&
                desc + n->n_descsz <= end) {
                fprintf(out, "# build-id %s ", name);
                for (unsigned j = 0; j < n->n_descsz; ++j) fprintf(out, "%02x", desc[j]);
                fprintf(out, "\n");
                return 0;
            }
            at = desc + ((n->n_descsz + 3) & ~3u);
        }
    }
    return 0;
}

static int by_address(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

__attribute__((destructor)) static void finish(void) {
    if (!armed) return;
    timer_delete(timer);
    armed = 0;
    int n = taken;
    FILE *out = fopen(getenv("SAMPLER_OUT"), "w");
    if (!out) return;
    dl_iterate_phdr(write_build_id, out);
    qsort(samples, n, sizeof samples[0], by_address);
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[len > 0 ? len : 0] = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && samples[j] == samples[i]) ++j;
        struct where w = {samples[i], NULL, 0};
        dl_iterate_phdr(find, &w);
        const char *module = w.module ? (w.module[0] ? w.module : exe) : "?";
        fprintf(out, "%d %s %#lx\n", j - i, module, (unsigned long)(w.module ? w.offset : samples[i]));
        i = j;
    }
    fclose(out);
}
