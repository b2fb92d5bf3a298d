import { useRef } from 'react';
import { useFieldArray, type Control, type FieldErrors, type UseFormRegister } from 'react-hook-form';
import { DATATYPES, MAX_TENSORS, blankRow, nameError, shapeError } from '../lib/signature';
import type { DeployForm } from '../pages/Deploy';

type Kind = 'inputs' | 'outputs';

/**
 * The rows of one side of a declared signature: name, datatype and shape per tensor, with
 * add/remove. Each field has its own label (shown on narrow screens; on wide ones the column
 * heads stand in for it visually), and a row's errors are tied to its fields.
 */
export function TensorRows({ kind, control, register, errors }: {
  kind: Kind;
  control: Control<DeployForm>;
  register: UseFormRegister<DeployForm>;
  errors: FieldErrors<DeployForm>;
}) {
  const { fields, append, remove } = useFieldArray({ control, name: kind });
  const addRef = useRef<HTMLButtonElement>(null);
  const noun = kind === 'inputs' ? 'Input' : 'Output';
  const title = kind === 'inputs' ? 'Inputs' : 'Outputs';
  const example = kind === 'inputs' ? 'INPUT__0' : 'OUTPUT__0';
  const rowErrors = errors[kind];
  return (
    <div className="sig-list" role="group" aria-labelledby={`sig-${kind}-title`}>
      <h3 id={`sig-${kind}-title`} className="sig-title">{title}</h3>
      <div className="sig-row sig-head" aria-hidden="true">
        <span>Name</span><span>Type</span><span>Shape</span><span />
      </div>
      {fields.map((f, i) => {
        const n = i + 1;
        const id = `sig-${kind}-${i}`;
        const e = rowErrors?.[i];
        const messages = [e?.name?.message, e?.datatype?.message, e?.shape?.message].filter(Boolean) as string[];
        return (
          <div key={f.id} className="sig-item">
            <div className="sig-row">
              <div className="sig-cell">
                <label className="sig-label" htmlFor={`${id}-name`}>{noun} {n} name</label>
                <input id={`${id}-name`} autoComplete="off" spellCheck={false} placeholder={example}
                  aria-invalid={e?.name ? true : undefined} aria-describedby={`${id}-error`}
                  {...register(`${kind}.${i}.name`, {
                    validate: (v, all) => {
                      const err = nameError(v, all[kind].map((r) => r.name), example);
                      return err ? `${noun} ${n} name: ${err}` : true;
                    },
                  })} />
              </div>
              <div className="sig-cell">
                <label className="sig-label" htmlFor={`${id}-type`}>{noun} {n} type</label>
                <select id={`${id}-type`} {...register(`${kind}.${i}.datatype`)}>
                  {DATATYPES.map((t) => <option key={t} value={t}>{t}</option>)}
                </select>
              </div>
              <div className="sig-cell">
                <label className="sig-label" htmlFor={`${id}-shape`}>{noun} {n} shape</label>
                <input id={`${id}-shape`} autoComplete="off" spellCheck={false} placeholder="-1x3x224x224"
                  aria-invalid={e?.shape ? true : undefined} aria-describedby={`sig-shape-help ${id}-error`}
                  {...register(`${kind}.${i}.shape`, {
                    validate: (v) => {
                      const err = shapeError(v);
                      return err ? `${noun} ${n} shape: ${err}` : true;
                    },
                  })} />
              </div>
              <button type="button" className="btn btn-small" aria-label={`Remove ${noun.toLowerCase()} ${n}`}
                disabled={fields.length <= 1}
                onClick={() => {
                  remove(i);
                  addRef.current?.focus();
                }}>
                Remove
              </button>
            </div>
            <p id={`${id}-error`} className="field-error">
              {messages.map((m, k) => <span key={k}>{k > 0 ? ' ' : ''}{m}</span>)}
            </p>
          </div>
        );
      })}
      <button ref={addRef} type="button" className="btn btn-small" disabled={fields.length >= MAX_TENSORS}
        onClick={() => append(blankRow())}>
        Add {noun.toLowerCase()}
      </button>
    </div>
  );
}
