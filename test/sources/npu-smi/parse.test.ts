// npu-smi's output as Ascend hosts print it: the `info` table of 910B (npu-smi 24.1), 310P
// (no HBM, power NA), the newer layout with the NPU id in a cell of its own, and the
// `Key : value` answers of `-t health`, `-t ecc` and `-t hccs`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseEcc, parseHccs, parseHealth, parseInfo, parseKeyValues } from "../../../src/sources/npu-smi/parse.ts";

const INFO_910B = `+------------------------------------------------------------------------------------------------+
| npu-smi 24.1.0                   Version: 24.1.0                                               |
+---------------------------+---------------+----------------------------------------------------+
| NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|
| Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |
+===========================+===============+====================================================+
| 0     910B3               | OK            | 92.9        37                0    / 0             |
| 0                         | 0000:C1:00.0  | 0           0    / 0          3379 / 65536         |
+===========================+===============+====================================================+
| 5     910B3               | Warning       | 97.2        96                0    / 0             |
| 0                         | 0000:02:00.0  | 64          0    / 0          64749/ 65536         |
+===========================+===============+====================================================+
+---------------------------+---------------+----------------------------------------------------+
| NPU     Chip              | Process id    | Process name             | Process memory(MB)      |
+===========================+===============+====================================================+
| No running processes found in NPU 0                                                            |
+===========================+===============+====================================================+
| 5       0                 | 1036531       |                          | 53312                   |
+===========================+===============+====================================================+
`;

const INFO_310P = `+--------------------------------------------------------------------------------------------------------+
| npu-smi 25.3.rc1                                 Version: 25.3.rc1                                     |
+-------------------------------+-----------------+------------------------------------------------------+
| NPU     Name                  | Health          | Power(W)     Temp(C)           Hugepages-Usage(page) |
| Chip    Device                | Bus-Id          | AICore(%)    Memory-Usage(MB)                        |
+===============================+=================+======================================================+
| 6       310P3                 | OK              | NA           50                0     / 0             |
| 0       0                     | 0000:84:00.0    | 0            1839 / 21525                            |
+===============================+=================+======================================================+
`;

const INFO_SPLIT_ID = `+--------+------------------+---------------+-----------------------------------------------------+
| NPU ID | Name             | Health        | Power(W)    Temp(C)           Hugepages-Usage(page) |
|        |                  | Bus-Id        | NPU Util(%) Memory-Usage(MB)  HBM-Usage(MB)         |
+========+==================+===============+=====================================================+
| 1      | Ascend950PR      | OK            | 208.8       57                0     / 0             |
|        |                  | 0000:71:00.0  | 85          0    / 0          5903  / 131072        |
+========+==================+===============+=====================================================+
+---------------------------+---------------+-----------------------------------------------------+
| NPU ID                    | Process id    | Process name             | Process memory(MB)       |
+===========================+===============+=====================================================+
| 1                         | 3728646       | pytest                   | 396                      |
+===========================+===============+=====================================================+
`;

// A card of two chips (910C): chip rows follow one NPU row; processes name the chip.
const INFO_TWO_CHIPS = `| NPU     Name                | Health          | Power(W)     Temp(C)           Hugepages-Usage(page) |
| Chip    Phy-ID              | Bus-Id          | AICore(%)    Memory-Usage(MB)  HBM-Usage(MB)         |
+=============================+=================+======================================================+
| 0       Ascend910           | OK              | 166.4        35                0    / 0              |
| 0       0                   | 0000:9D:00.0    | 12           0    / 0          3390 / 65536          |
| 1       1                   | 0000:9F:00.0    | 14           0    / 0          3385 / 65536          |
+=============================+=================+======================================================+
| NPU     Chip              | Process id    | Process name             | Process memory(MB)      |
+===========================+===============+========================================================+
| 0       0                 | 1803913       | VLLMWorker_DP            | 59887                   |
| 0       1                 | 1803992       | VLLMWorker_DP            | 60166                   |
`;

describe("parseInfo", () => {
  it("reads each chip's util, HBM, temperature and its card's health from a 910B table", () => {
    const t = parseInfo(INFO_910B);
    assert.deepEqual(t.chips, [
      { npu: 0, chip: 0, busId: "0000:c1:00.0", health: "OK", temp: 37, util: 0, memUsed: 3379, memTotal: 65536 },
      { npu: 5, chip: 0, busId: "0000:02:00.0", health: "Warning", temp: 96, util: 64, memUsed: 64749, memTotal: 65536 },
    ]);
    assert.deepEqual(t.processes, [{ npu: 5, chip: 0, pid: 1036531, memory: 53312 }]);
  });

  it("takes device memory where there is no HBM, and NA power does not shift the temperature", () => {
    const t = parseInfo(INFO_310P);
    assert.deepEqual(t.chips, [{ npu: 6, chip: 0, busId: "0000:84:00.0", health: "OK", temp: 50, util: 0, memUsed: 1839, memTotal: 21525 }]);
    assert.deepEqual(t.processes, []);
  });

  it("reads the layout with the NPU id in its own cell", () => {
    const t = parseInfo(INFO_SPLIT_ID);
    assert.deepEqual(t.chips, [{ npu: 1, chip: 0, busId: "0000:71:00.0", health: "OK", temp: 57, util: 85, memUsed: 5903, memTotal: 131072 }]);
    assert.deepEqual(t.processes, [{ npu: 1, chip: 0, pid: 3728646, name: "pytest", memory: 396 }]);
  });

  it("gives each chip of a two-chip card its own record and processes", () => {
    const t = parseInfo(INFO_TWO_CHIPS);
    assert.deepEqual(t.chips.map((c) => [c.npu, c.chip, c.util, c.health]), [[0, 0, 12, "OK"], [0, 1, 14, "OK"]]);
    assert.deepEqual(t.processes.map((p) => [p.npu, p.chip, p.pid]), [[0, 0, 1803913], [0, 1, 1803992]]);
  });

  it("finds nothing in an error message or an empty answer", () => {
    assert.deepEqual(parseInfo("dcmi module initialize failed. ret is -8005\n"), { chips: [], processes: [] });
    assert.deepEqual(parseInfo(""), { chips: [], processes: [] });
  });
});

describe("npu-smi key : value answers", () => {
  it("reads -t health: status, codes without NA, the information text", () => {
    assert.deepEqual(parseHealth("         Health Status                  : OK\n         Error Code                     : NA\n         Error Information              : NA\n"), {
      status: "OK",
      codes: [],
    });
    assert.deepEqual(
      parseHealth("Health Status                  : Warning\nError Code                     : 80E01801 80E18402\nError Information              : node type=SOC, sensor type=Temperature\n"),
      { status: "Warning", codes: ["80E01801", "80E18402"], info: "node type=SOC, sensor type=Temperature" },
    );
    assert.equal(parseHealth("The npu_id is invalid.\n"), null);
  });

  it("reads -t ecc per chip, from blocks that end with their Chip ID", () => {
    const one = `        NPU ID                                   : 0
        Chip Count                               : 1

        DDR Double Bit Error Count               : 0
        HBM Single Bit Error Count               : 12
        HBM Double Bit Error Count               : 3
        Chip ID                                  : 0
`;
    assert.deepEqual([...parseEcc(one)], [[0, { hbmDoubleBit: 3, ddrDoubleBit: 0 }]]);
    const two = one + one.replace("Chip ID                                  : 0", "Chip ID                                  : 1").replace(": 3", ": 0");
    assert.deepEqual([...parseEcc(two)], [[0, { hbmDoubleBit: 3, ddrDoubleBit: 0 }], [1, { hbmDoubleBit: 0, ddrDoubleBit: 0 }]]);
    assert.deepEqual([...parseKeyValues("a : 1\nChip ID : 0\nb : 2\n")].map(([c, kv]) => [c, [...kv]]), [[0, [["a", "1"], ["b", "2"]]]]);
  });

  it("reads -t hccs: health, lanes per link, error and retry sums", () => {
    const text = `\thccs health status             : NOK
\thccs lane mode                 : [4 4 4 4 4 4 4]
\thccs link lane list            : [1111 1101 1111 1111 1111 1111 1111]
\thccs link speed                : [224 224 224 224 224 224 224]
\thccs retry count               : [0 5 0 0 0 0 0]
\thccs error count               : [2 1 0 0 0 0 0]
\thccs first error lane          : 5
`;
    assert.deepEqual(parseHccs(text), { lanes: ["1111", "1101", "1111", "1111", "1111", "1111", "1111"], health: "NOK", errors: 3, retries: 5 });
    assert.equal(parseHccs("This device does not support querying hccs.\n"), null);
  });
});
