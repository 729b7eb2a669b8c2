import { useCallback, useEffect, useState } from 'preact/hooks';
import { type Plan, type Viewer, api, describeError } from '../api';

function PlanOptions({ plans }: { plans: Plan[] }) {
  return (
    <>
      <option value="">none</option>
      {plans.map((plan) => (
        <option key={plan.id} value={plan.id}>
          {plan.name}
        </option>
      ))}
    </>
  );
}

/** Viewers and the plans they are on. */
export function Viewers() {
  const [viewers, setViewers] = useState<Viewer[]>([]);
  const [plans, setPlans] = useState<Plan[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  const load = useCallback(() => {
    void api<{ items: Viewer[] }>('/v1/viewers?limit=100').then((r) => setViewers(r.items));
    void api<{ items: Plan[] }>('/v1/plans').then((r) => setPlans(r.items));
  }, []);
  useEffect(load, [load]);
  const fail = (caught: unknown) => setMessage(describeError(caught));
  const savePlan = async (event: Event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    try {
      await api(`/v1/plans/${encodeURIComponent(String(data.get('id')))}`, {
        method: 'PUT',
        json: { name: String(data.get('name')), maxStreams: Number(data.get('maxStreams')), maxDevices: Number(data.get('maxDevices')), maxHeight: Number(data.get('maxHeight')), packages: String(data.get('packages')).split(/[\s,]+/).filter(Boolean) },
      });
      setMessage('Plan saved.');
      load();
    } catch (caught) {
      fail(caught);
    }
  };
  const createViewer = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    try {
      await api('/v1/viewers', { method: 'POST', json: { email: String(data.get('email')), password: String(data.get('password')), planId: String(data.get('planId')) || null } });
      setMessage('Viewer created.');
      form.reset();
      load();
    } catch (caught) {
      fail(caught);
    }
  };
  const setPlan = async (viewer: Viewer, planId: string) => {
    try {
      await api(`/v1/viewers/${viewer.id}`, { method: 'PATCH', json: { planId: planId || null } });
      load();
    } catch (caught) {
      fail(caught);
    }
  };
  return (
    <>
      {message && <p role="status">{message}</p>}
      <section aria-labelledby="plans">
        <h2 id="plans">Plans</h2>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Plan</th>
                <th scope="col">Screens</th>
                <th scope="col">Devices</th>
                <th scope="col">Max height</th>
                <th scope="col">Packages</th>
              </tr>
            </thead>
            <tbody>
              {plans.map((plan) => (
                <tr key={plan.id}>
                  <td>{plan.name}</td>
                  <td>{plan.maxStreams}</td>
                  <td>{plan.maxDevices}</td>
                  <td>{plan.maxHeight}</td>
                  <td>{plan.packages.join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <form class="inline" onSubmit={savePlan} aria-label="Create or replace a plan">
          {(
            [
              ['id', 'Id', 'text', 'basic'],
              ['name', 'Name', 'text', 'Basic'],
              ['maxStreams', 'Screens', 'number', '1'],
              ['maxDevices', 'Devices', 'number', '3'],
              ['maxHeight', 'Max height', 'number', '720'],
              ['packages', 'Packages', 'text', 'free, basic'],
            ] as const
          ).map(([name, label, type, placeholder]) => (
            <div key={name}>
              <label for={`plan-${name}`}>{label}</label>
              <input id={`plan-${name}`} name={name} type={type} placeholder={placeholder} required />
            </div>
          ))}
          <button type="submit">Save plan</button>
        </form>
      </section>
      <section aria-labelledby="viewers">
        <h2 id="viewers">Viewers</h2>
        <form class="inline" onSubmit={createViewer} aria-label="Create a viewer">
          <div>
            <label for="viewer-email">Email</label>
            <input id="viewer-email" name="email" type="email" required />
          </div>
          <div>
            <label for="viewer-password">Password</label>
            <input id="viewer-password" name="password" type="password" minLength={10} required autocomplete="new-password" />
          </div>
          <div>
            <label for="viewer-plan">Plan</label>
            <select id="viewer-plan" name="planId">
              <PlanOptions plans={plans} />
            </select>
          </div>
          <button type="submit">Create viewer</button>
        </form>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Plan</th>
              </tr>
            </thead>
            <tbody>
              {viewers.map((viewer) => (
                <tr key={viewer.id}>
                  <td>{viewer.email}</td>
                  <td>
                    <select aria-label={`Plan of ${viewer.email}`} value={viewer.planId ?? ''} onChange={(e) => void setPlan(viewer, e.currentTarget.value)}>
                      <PlanOptions plans={plans} />
                    </select>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}
