#!/usr/bin/env bash
# Seeds for the ws_frames target: the frames of RFC 6455 §5.7 (masked and unmasked text,
# fragments, ping and pong, 256-byte and 64 KiB lengths) and a close frame.
set -euo pipefail
dir="$(dirname "$0")/corpus/ws_frames"
mkdir -p "$dir"
seed() { printf "$2" > "$dir/$1"; }
seed text-unmasked '\x81\x05\x48\x65\x6c\x6c\x6f'
seed text-masked '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58'
seed fragments '\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f'
seed ping-pong '\x89\x05\x48\x65\x6c\x6c\x6f\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58'
seed close '\x88\x82\x01\x02\x03\x04\x02\xea'
{ printf '\x82\x7e\x01\x00'; head -c 256 /dev/zero; } > "$dir/binary-256"
{ printf '\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00'; head -c 65536 /dev/zero; } > "$dir/binary-64k"
