// Shared by the reliability scenarios: small pageable copies at distinct call sites.
#pragma once
#include "../testkit.h"

#include <atomic>
#include <csignal>
#include <thread>
#include <unistd.h>

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
