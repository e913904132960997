// The pure parts of the endpoint layer: which commands ask for confirmation, the endpoint kinds, and the
// profiles of every kind.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ENDPOINTS, commandsOf, kindFromCommands, stateChangingCommands } from '../../src/endpoints/index';

describe('state-changing commands', () => {
  test('QMP, HMP and guest-agent commands that change a VM are found, in order, once; queries are not', () => {
    const steps = [
      { kind: 'command', input: { execute: 'query-status' } },
      { kind: 'command', input: { execute: 'stop' } },
      { kind: 'wait' },
      { kind: 'command', input: { execute: 'human-monitor-command', argumentsText: '{"command-line": "  quit now"}' } },
      { kind: 'command', input: { execute: 'human-monitor-command', arguments: { 'command-line': 'info status' } } },
      { kind: 'command', input: { execute: 'stop' } },
      { kind: 'command', input: { execute: 'guest-shutdown' } },
      { kind: 'command', input: { execute: 'device_del', arguments: { id: 'x' } } },
    ];
    assert.deepEqual(stateChangingCommands(commandsOf(steps)), ['stop', 'hmp: quit', 'guest-shutdown', 'device_del']);
    assert.deepEqual(stateChangingCommands(commandsOf([{ kind: 'command', input: { execute: 'query-block' } },
      { kind: 'command', input: { execute: 'dump-guest-memory' } }])), []);
    for (const c of ['stop', 'cont', 'quit', 'system_reset', 'device_del', 'blockdev-del', 'migrate']) {
      assert.deepEqual(stateChangingCommands([{ name: c }]), [c], c);
    }
  });

  test('an hmp command line that is not a string, or unparsable arguments, is not a state change', () => {
    assert.deepEqual(stateChangingCommands(commandsOf([{ kind: 'command', input: { execute: 'human-monitor-command', argumentsText: '{bad' } }])), []);
    assert.deepEqual(stateChangingCommands([{ name: 'human-monitor-command', arguments: { 'command-line': 5 } }]), []);
  });
});

describe('endpoint kinds', () => {
  test('each kind names its man page, and the ones that can never run OOB say why', () => {
    assert.equal(ENDPOINTS['storage-daemon'].manPage, 'qemu-storage-daemon-qmp-ref');
    assert.equal(ENDPOINTS['guest-agent'].manPage, 'qemu-ga-ref');
    assert.equal(ENDPOINTS['qemu'].oobNever, undefined);
    assert.match(ENDPOINTS['libvirt'].oobNever ?? '', /libvirt never enables/);
    assert.equal(kindFromCommands(['blockdev-add', 'block-export-add', 'qmp_capabilities']), 'storage-daemon');
  });
});
