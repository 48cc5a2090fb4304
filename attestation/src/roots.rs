//! Pinned trust anchors (public certificates; see `roots/README.md` for provenance).
//!
//! The public [`crate::verify`] uses these. The `*_with_root(s)` functions take anchors
//! as parameters so tests can use fake PKIs.

use crate::claims::Generation;

/// AWS Nitro Enclaves root G1 (`CN=aws.nitro-enclaves`), DER.
/// SHA-256 `641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b`.
pub const AWS_NITRO_ROOT_G1_DER: &[u8] = include_bytes!("../roots/aws-nitro-root-g1.der");

/// AMD Root Key, Milan (`CN=ARK-Milan`), DER.
pub const AMD_ARK_MILAN_DER: &[u8] = include_bytes!("../roots/amd-ark-milan.der");
/// AMD Root Key, Genoa (`CN=ARK-Genoa`), DER.
pub const AMD_ARK_GENOA_DER: &[u8] = include_bytes!("../roots/amd-ark-genoa.der");
/// AMD Root Key, Turin (`CN=ARK-Turin`), DER.
pub const AMD_ARK_TURIN_DER: &[u8] = include_bytes!("../roots/amd-ark-turin.der");
/// AMD SEV Key, Milan (`CN=SEV-Milan`, signs VCEKs), DER.
pub const AMD_ASK_MILAN_DER: &[u8] = include_bytes!("../roots/amd-ask-milan.der");
/// AMD SEV Key, Genoa (`CN=SEV-Genoa`), DER.
pub const AMD_ASK_GENOA_DER: &[u8] = include_bytes!("../roots/amd-ask-genoa.der");
/// AMD SEV Key, Turin (`CN=SEV-Turin`), DER.
pub const AMD_ASK_TURIN_DER: &[u8] = include_bytes!("../roots/amd-ask-turin.der");
/// AMD SEV VLEK signing key, Milan (`CN=SEV-VLEK-Milan`, signs VLEKs), DER.
pub const AMD_ASVK_MILAN_DER: &[u8] = include_bytes!("../roots/amd-asvk-milan.der");
/// AMD SEV VLEK signing key, Genoa (`CN=SEV-VLEK-Genoa`), DER.
pub const AMD_ASVK_GENOA_DER: &[u8] = include_bytes!("../roots/amd-asvk-genoa.der");
/// AMD SEV VLEK signing key, Turin (`CN=SEV-VLEK-Turin`), DER.
pub const AMD_ASVK_TURIN_DER: &[u8] = include_bytes!("../roots/amd-asvk-turin.der");

/// The AMD certificates for one processor generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmdGenerationRoots {
    /// Self-signed ARK: the trust anchor.
    pub ark: Vec<u8>,
    /// ASK (signs VCEKs); used when the evidence brings none.
    pub ask: Vec<u8>,
    /// ASVK (signs VLEKs); used when the evidence brings none.
    pub asvk: Vec<u8>,
}

/// AMD trust anchors per generation. An intermediate that comes with the evidence is
/// still verified against the ARK here; the pinned ASK/ASVK are only a fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmdRoots {
    milan: Option<AmdGenerationRoots>,
    genoa: Option<AmdGenerationRoots>,
    turin: Option<AmdGenerationRoots>,
}

impl AmdRoots {
    /// The real AMD roots for Milan, Genoa and Turin.
    pub fn pinned() -> Self {
        let pin = |ark: &[u8], ask: &[u8], asvk: &[u8]| {
            Some(AmdGenerationRoots {
                ark: ark.to_vec(),
                ask: ask.to_vec(),
                asvk: asvk.to_vec(),
            })
        };
        Self {
            milan: pin(AMD_ARK_MILAN_DER, AMD_ASK_MILAN_DER, AMD_ASVK_MILAN_DER),
            genoa: pin(AMD_ARK_GENOA_DER, AMD_ASK_GENOA_DER, AMD_ASVK_GENOA_DER),
            turin: pin(AMD_ARK_TURIN_DER, AMD_ASK_TURIN_DER, AMD_ASVK_TURIN_DER),
        }
    }

    /// No anchors at all; add some with [`AmdRoots::with`] (tests, private PKIs).
    pub fn empty() -> Self {
        Self {
            milan: None,
            genoa: None,
            turin: None,
        }
    }

    /// Replaces the anchors of one generation.
    pub fn with(mut self, generation: Generation, roots: AmdGenerationRoots) -> Self {
        *self.slot(generation) = Some(roots);
        self
    }

    fn slot(&mut self, generation: Generation) -> &mut Option<AmdGenerationRoots> {
        match generation {
            Generation::Milan => &mut self.milan,
            Generation::Genoa => &mut self.genoa,
            Generation::Turin => &mut self.turin,
        }
    }

    /// The anchors of one generation, if pinned.
    pub fn get(&self, generation: Generation) -> Option<&AmdGenerationRoots> {
        match generation {
            Generation::Milan => self.milan.as_ref(),
            Generation::Genoa => self.genoa.as_ref(),
            Generation::Turin => self.turin.as_ref(),
        }
    }
}
