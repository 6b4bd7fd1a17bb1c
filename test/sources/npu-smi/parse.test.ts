// npu-smi's output as Ascend hosts print it: the `info` table of 910B (npu-smi 24.1), 310P
// (no HBM, power NA), the newer layout with the NPU id in a cell of its own, A3 and 300I Duo
// with a row per chip, a chip the driver cannot read, and the `Key : value` answers of
// `-t health` (several alarms), `-t ecc` and `-t hccs`.
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

// Atlas A3 (910C), npu-smi 26: each chip has a row of its own, the second without power (`-`);
// the process table has a column for the pid inside a container.
const INFO_A3 = `| NPU   Name                | Health        | Power(W)             Temp(C)                 Hugepages-Usage(page)   |
| Chip  Phy-ID              | Bus-Id        | AICore(%)            Memory-Usage(MB)        HBM-Usage(MB)           |
+===========================+===============+======================================================================+
| 0     Ascend910           | OK            | 162.6                34                      0    / 0                |
| 0     0                   | 0000:9D:00.0  | 0                    0    / 0                3419 / 65536            |
+------------------------------------------------------------------------------------------------------------------+
| 0     Ascend910           | Alarm         | -                    36                      0    / 0                |
| 1     1                   | 0000:9F:00.0  | 41                   0    / 0                31877/ 65536            |
+===========================+===============+======================================================================+
+---------------------------+---------------+----------------------------------------------------------------------+
| NPU     Chip              | Process id    | Process name       | Process memory(MB)    | Process id in container |
+===========================+===============+======================================================================+
| No running processes found in NPU 0                                                                              |
+===========================+===============+======================================================================+
| 0       1                 | 632268        | python3.1          | 197                   | 84                      |
+===========================+===============+======================================================================+
`;

// Atlas 300I Duo: two 310P3 chips on one card, both behind one Bus-Id; NPU 2 then NPU 3.
const INFO_DUO = `| NPU     Name                  | Health          | Power(W)     Temp(C)           Hugepages-Usage(page) |
| Chip    Device                | Bus-Id          | AICore(%)    Memory-Usage(MB)                        |
+===============================+=================+======================================================+
| 2       310P3                 | OK              | NA           45                0     / 0             |
| 0       0                     | 0000:01:00.0    | 0            1529 / 44280                            |
+-------------------------------+-----------------+------------------------------------------------------+
| 2       310P3                 | Warning         | NA           43                0     / 0             |
| 1       1                     | 0000:01:00.0    | 3            1412 / 43693                            |
+===============================+=================+======================================================+
| 3       310P3                 | OK              | NA           44                0     / 0             |
| 0       2                     | 0000:81:00.0    | 0            1529 / 44280                            |
+===============================+=================+======================================================+
`;

// A chip the driver cannot read any more: every figure NA, even the Bus-Id, between two healthy ones.
const INFO_NA_CHIP = `| NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|
| Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |
+===========================+===============+====================================================+
| 4     910B3               | OK            | 92.9        37                0    / 0             |
| 0                         | 0000:01:00.0  | 0           0    / 0          3379 / 65536         |
+===========================+===============+====================================================+
| 5     910B3               | Critical      | NA          NA                NA   / NA            |
| 0                         | NA            | NA          NA   / NA         NA   / NA            |
+===========================+===============+====================================================+
| 6     910B3               | OK            | 93.1        38                0    / 0             |
| 0                         | 0000:02:00.0  | 5           0    / 0          3380 / 65536         |
+===========================+===============+====================================================+
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

  it("reads an A3 table: a row per chip, no power on the second, the in-container pid column ignored", () => {
    const t = parseInfo(INFO_A3);
    assert.deepEqual(t.chips.map((c) => [c.npu, c.chip, c.health, c.temp, c.util, c.memUsed]), [[0, 0, "OK", 34, 0, 3419], [0, 1, "Alarm", 36, 41, 31877]]);
    assert.deepEqual(t.processes, [{ npu: 0, chip: 1, pid: 632268, name: "python3.1", memory: 197 }]);
  });

  it("reads a 300I Duo: each chip its own health, two chips behind one Bus-Id", () => {
    const t = parseInfo(INFO_DUO);
    assert.deepEqual(t.chips.map((c) => [c.npu, c.chip, c.health, c.busId, c.memUsed, c.memTotal]), [
      [2, 0, "OK", "0000:01:00.0", 1529, 44280],
      [2, 1, "Warning", "0000:01:00.0", 1412, 43693],
      [3, 0, "OK", "0000:81:00.0", 1529, 44280],
    ]);
  });

  it("keeps a chip whose cells read NA, with its card's health, and its neighbours where they are", () => {
    const t = parseInfo(INFO_NA_CHIP);
    assert.deepEqual(t.chips, [
      { npu: 4, chip: 0, busId: "0000:01:00.0", health: "OK", temp: 37, util: 0, memUsed: 3379, memTotal: 65536 },
      { npu: 5, chip: 0, health: "Critical" },
      { npu: 6, chip: 0, busId: "0000:02:00.0", health: "OK", temp: 38, util: 5, memUsed: 3380, memTotal: 65536 },
    ]);
  });

  it("keeps the second chip of a card under that card when its Bus-Id reads NA", () => {
    const t = parseInfo(INFO_TWO_CHIPS.replace("| 1       1                   | 0000:9F:00.0    | 14 ", "| 1       1                   | NA              | NA "));
    assert.deepEqual(t.chips.map((c) => [c.npu, c.chip, c.busId ?? null, c.util ?? null]), [[0, 0, "0000:9d:00.0", 12], [0, 1, null, null]]);
    assert.deepEqual(t.processes.map((p) => [p.npu, p.chip, p.pid]), [[0, 0, 1803913], [0, 1, 1803992]]);
  });

  it("finds the pid in the column its header names, should a release give the chip a cell of its own", () => {
    const t = parseInfo(`| NPU     | Chip    | Process id    | Process name             | Process memory(MB)      |
+=========+=========+===============+==========================+=========================+
| 3       | 1       | 4711          | python3                  | 1024                    |
+=========+=========+===============+==========================+=========================+
| No running processes found in NPU 4                                                      |
`);
    assert.deepEqual(t.processes, [{ npu: 3, chip: 1, pid: 4711, name: "python3", memory: 1024 }]);
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

  it("reads each alarm of -t health, the later ones on lines of their own below the first", () => {
    const text = `        Health Status                  : Alarm
        Error Code                     : 80E01801 80CB8009
        Error Information              : node type=SOC, sensor type=Temperature, event state=over threshold
                                         node type=HBM, sensor type=Memory, event state=multi-bit ECC error
`;
    assert.deepEqual(parseHealth(text), {
      status: "Alarm",
      codes: ["80E01801", "80CB8009"],
      info: "node type=SOC, sensor type=Temperature, event state=over threshold; node type=HBM, sensor type=Memory, event state=multi-bit ECC error",
    });
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
    // The short form of a chip's query on the 200I A2: no memory named, `Double-bit`.
    assert.deepEqual([...parseEcc("        Single-bit Error Count                   : 0\n        Double-bit Error Count                   : 4\n")], [[0, { doubleBit: 4 }]]);
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
