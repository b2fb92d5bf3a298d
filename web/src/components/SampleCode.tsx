import { useState } from 'react';
import { samples, type Sample } from '../lib/samples';
import type { Model, Service } from '../lib/types';
import { CodeBlock, TabPanel, Tabs } from './ui';

export function SampleCode({ service, model }: { service: Service; model: Model | undefined }) {
  const list = samples(service, model);
  const [tab, setTab] = useState<Sample['id']>('curl');
  const prefix = `sample-${service.name}`;
  return (
    <div className="samples">
      <Tabs label="Sample code" tabs={list.map((s) => ({ id: s.id, label: s.label }))} value={tab} onChange={setTab} idPrefix={prefix} />
      {list.map((s) => (
        <TabPanel key={s.id} id={s.id} active={s.id === tab} idPrefix={prefix}>
          <CodeBlock code={s.code} label={`${s.label} sample`} />
        </TabPanel>
      ))}
      <p className="small muted">
        Replace <code>$BERTH_API_KEY</code> with a key that has the <code>invoke</code> or <code>invoke:{service.name}</code> scope
        (create one under API keys).
      </p>
    </div>
  );
}

export function Endpoints({ service }: { service: Service }) {
  const rows: [string, string | undefined][] = [
    ['REST (V2)', service.endpoint],
    ['gRPC (V2)', service.grpc_endpoint],
    ['Classify', service.classify_endpoint],
  ];
  return (
    <dl className="facts">
      {rows.filter(([, v]) => v).map(([k, v]) => (
        <div key={k} className="fact-row">
          <dt>{k}</dt>
          <dd><code data-testid={`endpoint-${k}`}>{v}</code></dd>
        </div>
      ))}
    </dl>
  );
}
