#!/usr/bin/env bash
# The C++ and CUDA sources follow .clang-format (clang-format 14): exit 1 listing the files that
# do not. Usage: check_format.sh SOURCE_DIR [CLANG_FORMAT]
set -euo pipefail
root="$1" tool="${2:-clang-format}"
cd "$root"
bad=0
while IFS= read -r f; do
  if ! "$tool" --dry-run --Werror "$f" > /dev/null 2>&1; then
    echo "$f: not formatted (clang-format -i $f)"
    bad=1
  fi
done < <(git ls-files '*.cpp' '*.h' '*.cu' 2>/dev/null || find core models regularizers tasks analysis run bench app tests -name '*.cpp' -o -name '*.h' -o -name '*.cu')
[ "$bad" = 0 ] && echo "every C++ source follows .clang-format"
exit "$bad"
