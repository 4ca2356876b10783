import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatGoDuration, parseGoDuration } from '../../../src/config/index.ts';

describe('parseGoDuration', () => {
  const cases: [string, number][] = [
    ['5m', 300_000],
    ['24h0m0s', 86_400_000],
    ['1h30m', 5_400_000],
    ['300ms', 300],
    ['30s', 30_000],
    ['1.5h', 5_400_000],
    ['1.1s', 1_100],
    ['.5s', 500],
    ['5.s', 5_000],
    ['1us', 0.001],
    ['1µs', 0.001],
    ['1μs', 0.001],
    ['100ns', 0.0001],
    ['0', 0],
    ['-1m30s', -90_000],
    ['+2h', 7_200_000],
  ];
  for (const [text, ms] of cases) {
    it(`reads ${JSON.stringify(text)} as ${ms} ms`, () => {
      assert.equal(parseGoDuration(text), ms);
    });
  }

  for (const text of ['', '5', '5 minutes', '1h 30m', '1d', '1mss', 'm', '.s', '-', 'PT5M', '5M']) {
    it(`rejects ${JSON.stringify(text)} with a message naming the input`, () => {
      assert.throws(
        () => parseGoDuration(text),
        (err: unknown) =>
          err instanceof RangeError &&
          err.message.startsWith(`${JSON.stringify(text)} is not a Go duration`) &&
          err.message.includes('e.g. 5m, 1h30m, 300ms'),
      );
    });
  }
});

describe('formatGoDuration', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [86_400_000, '24h0m0s'],
    [300_000, '5m0s'],
    [30_000, '30s'],
    [90_000, '1m30s'],
    [5_400_000, '1h30m0s'],
    [3_600_000, '1h0m0s'],
    [1_500, '1.5s'],
    [300, '300ms'],
    [1, '1ms'],
    [1.5, '1.5ms'],
    [0.5, '500µs'],
    [0.000_001, '1ns'],
    [-30_000, '-30s'],
    [90_061_001, '25h1m1.001s'],
  ];
  for (const [ms, text] of cases) {
    it(`writes ${ms} ms as ${JSON.stringify(text)}`, () => {
      assert.equal(formatGoDuration(ms), text);
    });
  }

  it('round-trips through parseGoDuration', () => {
    for (const text of ['24h0m0s', '5m0s', '30s', '1h30m0s', '1.5s', '300ms', '2h0m0.5s']) {
      assert.equal(formatGoDuration(parseGoDuration(text)), text);
    }
  });

  it('rejects non-finite input', () => {
    assert.throws(() => formatGoDuration(Number.NaN), RangeError);
    assert.throws(() => formatGoDuration(Infinity), RangeError);
  });
});
