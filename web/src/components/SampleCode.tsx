import { useState } from 'react';
import { samples, v2ModelUrl, type Sample } from '../lib/samples';
import type { Model, Service } from '../lib/types';
import { CodeBlock, TabPanel, Tabs } from './ui';

export function SampleCode({ service, model }: { service: Service; model: Model | undefined }) {
  const list = samples(service, model);
  const [tab, setTab] = useState<Sample['id']>('curl');
  const prefix = `sample-${service.name}`;
  const sampleBody = service.sample_request?.body as { image_url?: unknown } | undefined;
  const imageUrl = typeof sampleBody?.image_url === 'string' ? sampleBody.image_url : undefined;
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
        {imageUrl && (
          <>
            {' '}The curl sample sends the address of the server's sample image (<a href={imageUrl}>{imageUrl}</a>) as{' '}
            <code>image_url</code>, and the service fetches it; the Python and JavaScript samples upload an image file of
            your own.
          </>
        )}
      </p>
    </div>
  );
}

export function Endpoints({ service }: { service: Service }) {
  const rows: [string, string | undefined][] = [
    // For image services the server's `endpoint` is the classify URL; the V2 URL still works.
    ['REST (V2)', v2ModelUrl(service)],
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
