"""Prints, as JSON, every code object of a sample program with its line table and the
ranges Python itself gives for it (code.co_lines()): core/tests/py_lines.rs decodes the
tables and must get the same ranges, on every interpreter it finds."""
import json
import sys

# A program with what line tables hold: loops, branches, multi-line expressions,
# comprehensions, nested and async functions, generators, exceptions, decorators, a
# jump of more than 127 lines (3.10 splits it over several pairs), and long lines.
FILLER = "\n" * 300
SOURCE = '''
import functools

def decorate(f):
    @functools.wraps(f)
    def inner(*a, **k):
        return f(*a, **k)
    return inner

@decorate
def compute(n):
    total = 0
    for i in range(n):
        if i % 3 == 0:
            total += (i *
                      2 +
                      1)
        elif i % 5:
            total -= [j for j in range(i) if j % 2][0] if i > 2 else 0
        else:
            try:
                total //= (i - i)
            except ZeroDivisionError as e:
                total += len(str(e))
            finally:
                total += 1
    return total

def gen(xs):
    for x in xs:
        yield x * 2
    yield from range(3)

async def fetch(q):
    async with q as item:
        await item
    return {k: v for k, v in q}

class Model:
    def forward(self, x, y=lambda z: z + 1):
        while x:
            x -= 1
''' + FILLER + '''
        return y(x)

def long_line():
    return ''' + " + ".join(str(i) for i in range(400)) + '''
'''


def walk(code):
    yield code
    for c in code.co_consts:
        if hasattr(c, "co_code"):
            yield from walk(c)


out = []
for code in walk(compile(SOURCE, "sample.py", "exec")):
    out.append({
        "name": code.co_name,
        "first_line": code.co_firstlineno,
        "table": code.co_linetable.hex(),
        "lines": [[s, e, line] for s, e, line in code.co_lines()],
    })
json.dump({"version": list(sys.version_info[:2]), "codes": out}, sys.stdout)
