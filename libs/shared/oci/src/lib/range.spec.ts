import { OciError } from './errors';
import { parseContentRange, parseRangeHeader } from './range';

describe('ranges', () => {
  it('parses upload Content-Range with or without a unit', () => {
    expect(parseContentRange('0-99')).toEqual({ start: 0, end: 99 });
    expect(parseContentRange('bytes 100-199/*')).toEqual({ start: 100, end: 199 });
  });

  it.each(['', '5', '10-5', 'a-b', '-1-3'])('refuses Content-Range %j with RANGE_INVALID', (value) => {
    expect(() => parseContentRange(value)).toThrow(OciError);
  });

  it('parses single byte ranges against a size', () => {
    expect(parseRangeHeader('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRangeHeader('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRangeHeader('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRangeHeader('bytes=50-500', 100)).toEqual({ start: 50, end: 99 });
    expect(parseRangeHeader('bytes=0-1,5-6', 100)).toBeNull();
    expect(parseRangeHeader('items=0-1', 100)).toBeNull();
  });

  it('refuses a range starting past the end with 416', () => {
    let caught: unknown;
    try {
      parseRangeHeader('bytes=100-200', 100);
    } catch (error) {
      caught = error;
    }
    expect((caught as OciError).status).toBe(416);
  });
});
