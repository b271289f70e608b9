// Many distinct call sites, each a chain of functions of its own (leaves[I]): a finding
// through a leaf the process has not used walks frames the caching unwinder has never
// seen, so their unwind rules are read from the loader's tables then, and a new site is
// built.
#pragma once
#include "common.h"

#include <array>
#include <utility>

// A chain of D + 1 frames of its own for each I: a finding through leaf I walks D + 1
// frames the unwinder has not seen.
template <int I, int D> __attribute__((noinline)) int chain(rel_copier &c) {
    int r;
    if constexpr (D == 0) {
        r = c.site(I);
    } else {
        r = chain<I, D - 1>(c);
    }
    asm volatile("" ::: "memory");  // no tail call: each keeps a frame of its own
    return r + (I & 0);
}

using leaf_fn = int (*)(rel_copier &);

template <int... I> constexpr std::array<leaf_fn, sizeof...(I)> make_leaves(std::integer_sequence<int, I...>) {
    return {&chain<I, 6>...};
}

constexpr int LEAVES = 256;
static const std::array<leaf_fn, LEAVES> leaves = make_leaves(std::make_integer_sequence<int, LEAVES>{});
