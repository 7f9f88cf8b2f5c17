import sys, time, torch
import rgnet.ising.samplers.cluster as cl
from rgnet.ising.samplers.cluster import WolffSampler, SwendsenWangSampler
from rgnet.ising.exact import K_CRITICAL
dev = "cuda"
bfs = cl.WolffSampler._flip_torch
def flip_label(self):
    chains, L, n = self.chains, self.L, self.n_sites
    seed = torch.randint(0, n, (chains, 1), generator=self.generator, device=self.device)
    s0 = self.spins.view(chains, n).gather(1, seed).view(chains, 1, 1)
    right, down = cl._active_bonds(self.spins, self.bond_probability, self.generator)
    same = self.spins == s0
    right &= same; down &= same
    labels = cl._cluster_labels(right, down)
    cluster = (labels == labels.gather(1, seed)).view(chains, L, L)
    size = cluster.sum(dim=(1, 2))
    self.spins = torch.where(cluster, -self.spins, self.spins)
    return size
def bench(s, label, tmax=1.5):
    n = 1
    while True:
        torch.cuda.synchronize(); t = time.time(); s.step(n); torch.cuda.synchronize(); dt = time.time() - t
        if dt > tmax: break
        n *= 2
    print(f"{label:30s} {n/dt:9.1f} sweeps/s fps={getattr(s,'flips_per_sweep',None)} e={s.energy().mean().item():.4f}", flush=True)
for L, C in ((64, 64), (256, 64)):
    s = SwendsenWangSampler(L, K_CRITICAL, chains=C, seed=1, device=dev); s.step(1)
    bench(s, f"SW torch L={L} C={C}")
    for name, f in (("label", flip_label), ("bfs", bfs)):
        cl.WolffSampler._flip_torch = f
        w = WolffSampler(L, K_CRITICAL, chains=C, seed=1, device=dev, flips_per_sweep=3 if L == 64 else 5)
        w.spins = s.spins.clone()
        t = time.time(); w.step(1); torch.cuda.synchronize(); print("first", time.time() - t)
        bench(w, f"Wolff {name} L={L} C={C}")
        w = WolffSampler(L, K_CRITICAL, chains=C, seed=1, device=dev, start="random")
        t = time.time(); w.step(1); torch.cuda.synchronize(); print(f"pilot from random {name}", time.time() - t, w.flips_per_sweep, flush=True)
