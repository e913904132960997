// device_add's `driver` is a plain string in the schema. Completion must not invent values there (the editor's
// word-based fallback is off for the cell languages, package.json configurationDefaults); it offers the device
// types the session listed with qom-list-types, and nothing when there is no such list.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { complete } from '../../src/language/completion';
import { cursor as at, fixtureSchema, VERSIONS } from './completionHelpers';

for (const version of VERSIONS) {
  test(`QEMU ${version}: device_add's driver offers the listed device types, quoted, and only those`, () => {
    const { text, offset } = at('{ "execute": "device_add", "arguments": { "driver": | } }');
    const items = complete(text, offset, fixtureSchema(version), { deviceTypes: ['usb-kbd', 'virtio-net-pci'] }).items;
    assert.deepEqual(items.map((i) => i.label), ['usb-kbd', 'virtio-net-pci']);
    assert.deepEqual(items.map((i) => i.insertText), ['"usb-kbd"', '"virtio-net-pci"']);
  });

  test(`QEMU ${version}: inside an opened string the device types still match what was typed`, () => {
    const { text, offset } = at('{ "execute": "device_add", "arguments": { "driver": "usb|" } }');
    const items = complete(text, offset, fixtureSchema(version), { deviceTypes: ['usb-kbd', 'e1000'] }).items;
    const kbd = items.find((i) => i.label === 'usb-kbd');
    assert.ok(kbd, 'usb-kbd is offered');
    assert.equal(kbd.filterText, '"usb-kbd"');
  });

  test(`QEMU ${version}: without a device list, device_add's driver offers nothing (no random words)`, () => {
    const { text, offset } = at('{ "execute": "device_add", "arguments": { "driver": | } }');
    assert.deepEqual(complete(text, offset, fixtureSchema(version), {}).items, []);
  });

  test(`QEMU ${version}: the device list is not offered for other string members`, () => {
    const { text, offset } = at('{ "execute": "device_add", "arguments": { "driver": "usb-kbd", "id": | } }');
    const items = complete(text, offset, fixtureSchema(version), { deviceTypes: ['usb-kbd'] }).items;
    assert.equal(items.some((i) => i.label === 'usb-kbd'), false);
  });
}
