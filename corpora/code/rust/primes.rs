//! The sieve of Eratosthenes.

pub fn primes_below(limit: usize) -> Vec<usize> {
    let mut is_prime = vec![true; limit.max(2)];
    is_prime[0] = false;
    is_prime[1] = false;
    let mut i = 2;
    while i * i < limit {
        if is_prime[i] {
            let mut multiple = i * i;
            while multiple < limit {
                is_prime[multiple] = false;
                multiple += i;
            }
        }
        i += 1;
    }
    (0..limit).filter(|&n| is_prime[n]).collect()
}
