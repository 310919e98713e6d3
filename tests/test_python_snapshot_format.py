"""The Python snapshot's packed layout (web/worker/python-snapshot.js, format 2), run in Node:
the heap's all-zero 64 KiB pages are left out, and what is restored is the heap exactly,
whatever the memory held before (instantiation writes data segments there)."""

from __future__ import annotations

from pathlib import Path

from conftest import node_json

ROOT = Path(__file__).resolve().parents[1]

# A heap as Pyodide's makeMemorySnapshot gives it: [header (u32 magic, u32 its length, ...)]
# [memory]. The memory: page 0 used, pages 1-2 zero, page 3 used in its last byte only, page 4
# zero, page 5 short (the memory's length is not a whole number of pages here) and used.
ROUND_TRIP = r"""
const s = await import(process.argv[1]);
const PAGE = 65536, HEADER = 160, SIZE = 5 * PAGE + 1000;
const heap = new Uint8Array(HEADER + SIZE);
const u32 = new Uint32Array(heap.buffer, 0, 2);
u32[0] = 0x0f1e2d3c; u32[1] = HEADER;
heap.fill(7, 8, HEADER);
const memory = heap.subarray(HEADER);
for (let i = 0; i < PAGE; i += 97) memory[i] = (i % 251) + 1;
memory[4 * PAGE - 1] = 9;
memory.fill(3, 5 * PAGE, SIZE);
const files = [
  ['/lib/a.so', new Uint8Array([1, 2, 3])],
  ['/lib/b.py', new Uint8Array(70000).fill(5)],
];
const packed = s.pack({ format: 2, libs: [] }, heap, files);
const { meta, heap: stored, files: back } = s.unpack(packed);
// Memory that held something else before: every byte of it must be the snapshot's after.
const target = new Uint8Array(SIZE + 2 * PAGE).fill(0xaa);
s.writeHeap(target, stored);
let same = true;
for (let i = 0; i < SIZE; i++) if (target[i] !== memory[i]) { same = false; break; }
console.log(JSON.stringify({
  runs: meta.heapPages,
  packed: packed.byteLength,
  whole: heap.byteLength + 70003,
  same,
  beyond: target[SIZE + 5],
  header: Array.from(stored.header.subarray(0, 12)),
  files: back.map(([path, data]) => [path, data.byteLength, data[0]]),
}));
"""


def test_zero_pages_are_left_out_and_the_heap_comes_back_exactly():
    module = (ROOT / "web" / "worker" / "python-snapshot.js").as_uri()
    result = node_json(ROUND_TRIP, module)
    assert result["runs"] == [[0, 1], [3, 1], [5, 1]]
    assert result["same"] is True
    assert result["beyond"] == 0xAA  # past the snapshot's memory: left alone, as before
    assert result["header"][4:8] == [160, 0, 0, 0]
    assert result["files"] == [["/lib/a.so", 3, 1], ["/lib/b.py", 70000, 5]]
    # Three of six pages stored (the last one short), not the whole heap.
    page = 65536
    assert result["packed"] < result["whole"] - 3 * page + page // 8
    assert result["packed"] > 160 + 2 * page + 1000 + 70003
