#!/usr/bin/env python3
"""Writes the seed corpus of rest_request_fuzz (tests/fuzz/corpus/rest_request/).

Each seed is two header bytes (see rest_request_fuzz.cc: flags and header length) followed by
an HTTP body. Run from any directory; files are rewritten in place.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'rest_request')


def seed(name, body, header=None, padded=False):
    if isinstance(body, str):
        body = body.encode()
    flags, low = 0, 0
    if header is not None:
        assert header < 4096
        flags |= 1 | ((header >> 8) << 4)
        low = header & 0xff
    if padded:
        flags |= 2
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(bytes([flags, low]) + body)


def one(dt, shape, data):
    return '{"inputs":[{"name":"in0","datatype":"%s","shape":%s,"data":%s}]}' % (dt, shape, data)


def main():
    os.makedirs(OUT, exist_ok=True)
    seed('bool', one('BOOL', '[2]', '[true,false]'))
    seed('uint8', one('UINT8', '[2]', '[0,255]'), padded=True)
    seed('uint16', one('UINT16', '[1]', '[65535]'))
    seed('uint32', one('UINT32', '[1]', '[4294967295]'), padded=True)
    seed('uint64', one('UINT64', '[1]', '[18446744073709551615]'))
    seed('int8', one('INT8', '[2]', '[-128,127]'), padded=True)
    seed('int16', one('INT16', '[2,1]', '[[-32768],[32767]]'))
    seed('int32', one('INT32', '[2,2]', '[[1,2],[3,4]]'), padded=True)
    seed('int64', one('INT64', '[]', '[-9223372036854775808]'))
    seed('fp16', one('FP16', '[3]', '[1.0,-0.5,65504]'), padded=True)
    seed('bf16', one('BF16', '[2]', '[3.14,-1e30]'))
    seed('fp32', one('FP32', '[1,3]', '[[0.1,-2,1e-45]]'), padded=True)
    seed('fp64', one('FP64', '[2]', '[0.1,1e300]'))
    seed('bytes', one('BYTES', '[3]', '["a\\"b","\\u00e9\\n",""]'), padded=True)
    seed('data_first',
         '{"inputs":[{"data":[[1,2],[3,4]],"name":"x","shape":[2,2],"datatype":"INT16"},'
         '{"name":"y","datatype":"FP32","data":[1.5],"shape":[1]}],"id":"after"}')
    seed('full_request',
         '{"id":"req-1","inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1,2],'
         '"parameters":{"note":"x"}}],"outputs":[{"name":"y","parameters":{"binary_data":true}},'
         '{"name":"z"}],"parameters":{"binary_data_output":true,"priority":2,"timeout":1000}}',
         padded=True)
    j = ('{"inputs":[{"name":"a","datatype":"FP32","shape":[2],'
         '"parameters":{"binary_data_size":8}},'
         '{"name":"b","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":13}}],'
         '"parameters":{"binary_data_output":true}}')
    binary = (struct.pack('<ff', 1.0, -1.0) + struct.pack('<I', 5) + b'hello' +
              struct.pack('<I', 0))
    seed('binary_two_inputs', j.encode() + binary, header=len(j))
    seed('binary_two_inputs_padded', j.encode() + binary, header=len(j), padded=True)
    j2 = ('{"inputs":[{"name":"j","datatype":"INT32","shape":[1],"data":[7]},'
          '{"name":"b","datatype":"UINT8","shape":[3],"parameters":{"binary_data_size":3}}]}')
    seed('binary_mixed', j2.encode() + b'\x01\x02\x03', header=len(j2))
    seed('binary_leftover', j2.encode() + b'\x01\x02\x03\x04\x05', header=len(j2))
    seed('binary_overrun', j2.encode() + b'\x01', header=len(j2), padded=True)
    plain = one('UINT8', '[1]', '[1]')
    seed('header_past_body', plain, header=len(plain) + 1)
    seed('malformed_truncated', '{"inputs":[{"name":"x","datatype":"INT8","shape":[1],"data":[1,')
    seed('not_object', '[{"inputs":[]}]')
    seed('unknown_datatype', one('FP8', '[1]', '[1]'))
    seed('out_of_range', one('UINT8', '[2]', '[1,300]'))
    seed('too_few', one('FP64', '[2,2]', '[[1,2],[3]]'))
    seed('huge_shape', one('FP64', '[1000000000]', '[1]'), padded=True)
    seed('overflow_shape', one('UINT8', '[4294967296,4294967296,16]', '[1]'))
    seed('deep_nesting', one('INT8', '[1]', '[' * 40 + '1' + ']' * 40))
    # Triton's classification parameter, in range and not.
    seed('classification',
         '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],'
         '"outputs":[{"name":"y","parameters":{"classification":3}},'
         '{"name":"z","parameters":{"classification":-1}}]}')
    # A shared-memory input: its element count is bounded by the byte size it names, however
    # small the body; a shape past that, and one that overflows, are refused.
    seed('shm_input',
         '{"inputs":[{"name":"x","datatype":"FP32","shape":[4,1,28,28],"parameters":'
         '{"shared_memory_region":"r","shared_memory_byte_size":12544}}]}')
    seed('shm_input_overflow',
         '{"inputs":[{"name":"x","datatype":"UINT8","shape":[4294967296,4294967296,16],'
         '"parameters":{"shared_memory_region":"r","shared_memory_byte_size":'
         '18446744073709551615}}]}', padded=True)


if __name__ == '__main__':
    main()
