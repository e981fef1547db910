import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, within } from '@testing-library/react';
import { I18nProvider } from '../i18n';
import { DEFAULT_OPTIONS, OPTIONS_STORAGE_KEY, TargetOptions, loadOptions, toTaskOptions } from './TargetOptions';

function renderOptions() {
  return render(
    <I18nProvider initial="en">
      <TargetOptions />
    </I18nProvider>,
  );
}

function radio(groupTestId: string, label: string): HTMLInputElement {
  return within(screen.getByTestId(groupTestId)).getByLabelText(label) as HTMLInputElement;
}

function openSelect(testId: string) {
  const root = screen.getByTestId(testId).closest('.ant-select') ?? screen.getByTestId(testId);
  fireEvent.mouseDown(root.querySelector('.ant-select-selector')!);
}

function pickOption(title: string) {
  const option = document.querySelector(`.ant-select-item-option[title="${title}"]`);
  expect(option).not.toBeNull();
  fireEvent.click(option!);
}

describe('TargetOptions', () => {
  it('starts from the defaults', () => {
    renderOptions();
    expect(radio('option-node-version', '20').checked).toBe(true);
    expect(radio('option-format', 'zip').checked).toBe(true);
    expect(screen.getByText('3.12')).toBeInTheDocument();
    expect(screen.getByText('manylinux2014_x86_64')).toBeInTheDocument();
    expect(loadOptions()).toEqual(DEFAULT_OPTIONS);
  });

  it('remembers the choices between visits', () => {
    const first = renderOptions();
    fireEvent.click(radio('option-node-version', '22'));
    fireEvent.click(radio('option-format', 'tar.zst'));
    openSelect('option-python-versions');
    pickOption('3.13');
    // a platform tag typed in (free entry) next to the common ones
    const platformInput = screen.getByTestId('option-platforms').closest('.ant-select')!.querySelector('input')!;
    fireEvent.change(platformInput, { target: { value: 'manylinux_2_34_x86_64' } });
    fireEvent.keyDown(platformInput, { key: 'Enter', code: 'Enter', keyCode: 13 });

    const saved = JSON.parse(window.localStorage.getItem(OPTIONS_STORAGE_KEY) ?? '{}');
    expect(saved.node_version).toBe('22');
    expect(saved.format).toBe('tar.zst');
    expect(saved.python_versions).toEqual(['3.12', '3.13']);
    expect(saved.platforms).toEqual(['manylinux2014_x86_64', 'manylinux_2_34_x86_64']);
    first.unmount();

    // the next visit starts from them
    renderOptions();
    expect(radio('option-node-version', '22').checked).toBe(true);
    expect(radio('option-format', 'tar.zst').checked).toBe(true);
    expect(screen.getByText('3.13')).toBeInTheDocument();
    expect(screen.getByText('manylinux_2_34_x86_64')).toBeInTheDocument();
  });

  it('keeps at least one ecosystem and drops libc off linux', () => {
    renderOptions();
    const npm = within(screen.getByTestId('target-options')).getByText('npm packages');
    fireEvent.click(npm);
    const saved = JSON.parse(window.localStorage.getItem(OPTIONS_STORAGE_KEY) ?? '{}');
    expect(saved.npm).toBe(false);
    // Python is now the only one: it cannot be unticked
    const pypi = screen.getByText('Python packages').closest('label')!.querySelector('input')!;
    expect(pypi).toBeDisabled();
    expect(toTaskOptions({ ...DEFAULT_OPTIONS, os: 'win32', libc: 'glibc' }).libc).toBeNull();
  });

  it('sets a bandwidth limit for the task, sent in bytes per second', () => {
    renderOptions();
    openSelect('option-limit-rate');
    pickOption('10.0 MB/s');
    const saved = JSON.parse(window.localStorage.getItem(OPTIONS_STORAGE_KEY) ?? '{}');
    expect(saved.limit_rate).toBe(10_000_000);
    expect(toTaskOptions(loadOptions()).limit_rate).toBe(10_000_000);
    openSelect('option-limit-rate');
    pickOption('No limit');
    expect(loadOptions().limit_rate).toBeNull();
  });

  it('chooses wheels or sources, a date and a PyTorch build, as the task options say them', () => {
    renderOptions();
    fireEvent.click(radio('option-wheels', 'Wheels only'));
    let sent = toTaskOptions(loadOptions());
    expect(sent.only_binary).toEqual([':all:']);
    expect(sent.prefer_binary).toBe(false);
    fireEvent.click(radio('option-wheels', 'Prefer wheels'));
    sent = toTaskOptions(loadOptions());
    expect(sent.only_binary).toEqual([]);
    expect(sent.prefer_binary).toBe(true);

    fireEvent.change(screen.getByTestId('option-exclude-newer'), { target: { value: '2023-06-30' } });
    expect(toTaskOptions(loadOptions()).exclude_newer).toBe('2023-06-30');
    fireEvent.change(screen.getByTestId('option-exclude-newer'), { target: { value: '' } });
    expect(toTaskOptions(loadOptions()).exclude_newer).toBeNull();

    openSelect('option-torch-backend');
    pickOption('cpu');
    expect(toTaskOptions(loadOptions()).torch_backend).toBe('cpu');
  });

  it('picks a source profile the service offers, and only while it offers it', () => {
    const registries = [
      { name: 'nexus', description: 'Team Nexus' },
      { name: 'mirror', description: '' },
    ];
    render(
      <I18nProvider initial="en">
        <TargetOptions registries={registries} />
      </I18nProvider>,
    );
    openSelect('option-registry');
    pickOption('nexus — Team Nexus');
    expect(toTaskOptions(loadOptions(), registries).registry).toBe('nexus');
    // the service no longer has it: the task goes to its own sources
    expect(toTaskOptions(loadOptions(), [{ name: 'mirror', description: '' }]).registry).toBeNull();
    fireEvent.click(screen.getByTestId('option-ignore-manifest-indexes'));
    expect(toTaskOptions(loadOptions()).ignore_manifest_indexes).toBe(true);
  });

  it('shows no source selector when the service offers no profiles', () => {
    renderOptions();
    expect(screen.queryByTestId('option-registry')).toBeNull();
  });

  it('ignores broken remembered values', () => {
    window.localStorage.setItem(OPTIONS_STORAGE_KEY, JSON.stringify({ node_version: '7', format: 'rar', python_versions: [], npm: false, pypi: false, limit_rate: -5, exclude_newer: 'soon', torch_backend: 'cuda', only_binary: 'all', registry: '../x' }));
    expect(loadOptions()).toEqual(DEFAULT_OPTIONS);
  });
});
