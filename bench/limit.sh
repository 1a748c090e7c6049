#!/usr/bin/env bash
# The limit for reading an image: decompress and hash every layer blob once, one after the
# other (gzip -dc / zstd -dc | sha256sum). LIST is the output of layers.py for the image.
set -euo pipefail
list=$1
while IFS=$'\t' read -r file offset size codec; do
  case $codec in
    gzip) dd if="$file" iflag=skip_bytes,count_bytes skip="$offset" count="$size" bs=1M status=none | gzip -dc | sha256sum ;;
    zstd) dd if="$file" iflag=skip_bytes,count_bytes skip="$offset" count="$size" bs=1M status=none | zstd -dcq | sha256sum ;;
    none) dd if="$file" iflag=skip_bytes,count_bytes skip="$offset" count="$size" bs=1M status=none | sha256sum ;;
  esac
done < "$list" > /dev/null
