// Parsing of the tiny model's tool-call answers and the argument pieces streamed for them.
import { describe, expect, it } from 'vitest';
import { argumentDeltas, parseChosenCalls } from './tool-calls.ts';

describe('tool-call parsing', () => {
  it('reads a <tool_call> answer as calls and anything else as text', () => {
    expect(parseChosenCalls('<tool_call>{"name": "time", "arguments": {"zone": "UTC"}}</tool_call>')).toEqual([{ name: 'time', arguments: '{"zone":"UTC"}' }]);
    expect(parseChosenCalls('<tool_call>[{"name":"a","arguments":{}},{"name":"b","arguments":{"x":1}}]</tool_call>')).toEqual([
      { name: 'a', arguments: '{}' },
      { name: 'b', arguments: '{"x":1}' },
    ]);
    expect(parseChosenCalls('plain words')).toBeUndefined();
    expect(parseChosenCalls('<tool_call>{"name": "ti')).toBeUndefined();
  });

  it('splits arguments at top-level commas only', () => {
    expect(argumentDeltas('{"a":"x,y","b":[1,2],"c":{"d":1,"e":2}}')).toEqual(['{"a":"x,y",', '"b":[1,2],', '"c":{"d":1,"e":2}}']);
    expect(argumentDeltas('{}')).toEqual(['{}']);
  });
});
