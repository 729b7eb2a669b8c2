/** A small bar chart of one figure over time buckets, with its values readable by screen readers. */
export function BarChart({ title, points, format }: { title: string; points: { label: string; value: number | null }[]; format: (value: number) => string }) {
  const values = points.map((p) => p.value ?? 0);
  const max = Math.max(...values, 0) || 1;
  const width = 240;
  const height = 60;
  const step = points.length > 0 ? width / points.length : width;
  const latest = [...points].reverse().find((p) => p.value !== null);
  return (
    <figure class="chart">
      <figcaption>
        {title}: <strong>{latest?.value != null ? format(latest.value) : '—'}</strong>
      </figcaption>
      <svg width={width} height={height} role="img" aria-label={`${title} per hour: ${points.map((p) => `${p.label} ${p.value === null ? 'none' : format(p.value)}`).join(', ')}`}>
        {points.map((p, i) => {
          const h = p.value === null ? 0 : Math.max(1, (p.value / max) * (height - 2));
          return <rect key={p.label} x={i * step + 1} y={height - h} width={Math.max(1, step - 2)} height={h} fill="#14213d" />;
        })}
      </svg>
    </figure>
  );
}
