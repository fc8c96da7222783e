#!/usr/bin/env python3
"""No function of sernn's C++/CUDA sources is longer than 80 lines, data tables aside.

Usage: check_function_length.py SOURCE_DIR [--max N] | SOURCE_DIR --app-max N | --self-test

A function is a brace block opened at namespace level (outside any function, class or
namespace body) by a line that is not a namespace, class, struct, enum or initializer. Its
length counts the lines from the signature's opening brace to its closing brace. Braces inside
string and character literals and comments are ignored. Data tables (functions that return one
initializer list, named below) are exempt.
"""
import os
import re
import sys
import tempfile

FOLDERS = ["core", "models", "regularizers", "tasks", "analysis", "run", "bench", "app", "ops"]
# Functions that are data tables: one list of entries, nothing else.
DATA_TABLES = {"network_keys", "train_keys", "cost_keys", "prune_checkpoint_keys", "rate_model_entry",
               "spiking_model_entry", "shd_task_entry", "penalty_entries"}
# Functions that are to be deleted, not split, with the issue that deletes them.
PENDING = {}
OPENERS = re.compile(r"^\s*(namespace\b|extern\s+\"C\"|(template\s*<.*>\s*)?(class|struct|enum|union)\b)")


def strip(line, state):
    """The line without comments and literals; state carries /* */ and raw strings across lines."""
    out, i = [], 0
    while i < len(line):
        if state["raw"] is not None:
            end = line.find(state["raw"], i)
            if end < 0:
                return "".join(out)
            i = end + len(state["raw"])
            state["raw"] = None
            continue
        if state["block"]:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out)
            i, state["block"] = end + 2, False
            continue
        c = line[i]
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            state["block"] = True
            i += 2
            continue
        m = re.match(r'R"([^(\s]*)\(', line[i:])
        if m:
            state["raw"] = ")" + m.group(1) + '"'
            i += m.end()
            continue
        if c in "\"'":
            j = i + 1
            while j < len(line) and line[j] != c:
                j += 2 if line[j] == "\\" else 1
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def long_functions(path, limit):
    state = {"block": False, "raw": None}
    stack = []  # per open brace: "scope" (namespace/class level) or "body"
    found, start, name, header = [], 0, "", ""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    for n, raw in enumerate(lines, 1):
        code = strip(raw, state)
        for c in code:
            if c == "{":
                in_scope = all(s == "scope" for s in stack)
                text = (header + " " + code[: code.index("{")]).strip()
                if in_scope and (OPENERS.match(text) or text.endswith("=") or not text):
                    stack.append("scope")
                elif in_scope:
                    stack.append("body")
                    start, name = n, (re.findall(r"([A-Za-z_][\w:~]*)\s*\(", text) or ["?"])[0]
                else:
                    stack.append("inner")
            elif c == "}":
                if stack:
                    kind = stack.pop()
                    if kind == "body" and n - start + 1 > limit and name.split("::")[-1] not in DATA_TABLES \
                            and name.split("::")[-1] not in PENDING:
                        found.append((path, start, name, n - start + 1))
        stripped = code.strip()
        header = "" if (stripped.endswith((";", "{", "}")) or not stripped or stripped.startswith("#")) else (header + " " + stripped)
    return found


def check(root, limit):
    bad = []
    for folder in FOLDERS:
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in sorted(files):
                if name.endswith((".cpp", ".h", ".cu")):
                    bad += long_functions(os.path.join(dirpath, name), limit)
    return bad


def self_test():
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "core"))
        body = "\n".join("  x += %d;  // {" % i for i in range(85))
        with open(os.path.join(d, "core", "a.cpp"), "w") as f:
            f.write('namespace s {\nstruct A {\n  int f() { return 1; }\n};\n'
                    'int long_one(int x) {\n' + body + '\n  const char* s = "}}}";\n  return x;\n}\n'
                    'int short_one() {\n  return 0;\n}\n}  // namespace s\n')
        bad = check(d, 80)
        assert [b[2] for b in bad] == ["long_one"], bad
        assert bad[0][3] == 89, bad
        assert check(d, 100) == []
    print("self-test passed")
    return 0


def app_lines(root):
    """Lines of the `sernn` program's own sources (app/): option parsing and printing only."""
    total = 0
    for name in os.listdir(os.path.join(root, "app")):
        if name.endswith((".cpp", ".h")):
            with open(os.path.join(root, "app", name), encoding="utf-8") as f:
                total += sum(1 for _ in f)
    return total


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if "--app-max" in argv:
        limit, lines = int(argv[argv.index("--app-max") + 1]), app_lines(argv[1])
        print(f"app/ has {lines} lines (at most {limit})")
        return 0 if lines <= limit else 1
    limit = int(argv[argv.index("--max") + 1]) if "--max" in argv else 80
    bad = check(argv[1], limit)
    for path, line, name, length in bad:
        print(f"{os.path.relpath(path, argv[1])}:{line}: {name} is {length} lines (at most {limit})")
    if bad:
        return 1
    print(f"every function is at most {limit} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
