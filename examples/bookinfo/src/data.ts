// Bookinfo's data and wire shapes: the one book, its details, its two reviews and their star ratings, as Istio's sample serves them.

/** A book as productpage lists it. */
export interface Product {
  id: number;
  title: string;
  descriptionHtml: string;
}

/** What details answers for `GET /details/:id`. */
export interface BookDetails {
  id: number;
  author: string;
  year: number;
  type: string;
  pages: number;
  publisher: string;
  language: string;
  'ISBN-10': string;
  'ISBN-13': string;
}

/** What ratings answers for `GET /ratings/:id`: stars by reviewer. */
export interface RatingsResponse {
  id: number;
  ratings: Record<string, number>;
}

/** A review's rating as reviews v2 and v3 show it; v1 shows none. */
export type Rating = { stars: number; color: 'black' | 'red' } | { error: string };

export interface Review {
  reviewer: string;
  text: string;
  rating?: Rating;
}

/** What reviews answers for `GET /reviews/:id`. `podname` says which version served it. */
export interface ReviewsResponse {
  id: string;
  podname: string;
  reviews: Review[];
}

export const PRODUCTS: readonly Product[] = [
  {
    id: 0,
    title: 'The Comedy of Errors',
    descriptionHtml:
      '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: The Comedy of Errors is one of <b>William Shakespeare\'s</b> early plays. It is his shortest and one of his most farcical comedies, with a major part of the humour coming from slapstick and mistaken identity, in addition to puns and word play.',
  },
];

export function bookDetails(id: number): BookDetails {
  return {
    id,
    author: 'William Shakespeare',
    year: 1595,
    type: 'paperback',
    pages: 200,
    publisher: 'PublisherA',
    language: 'English',
    'ISBN-10': '1234567890',
    'ISBN-13': '123-1234567890',
  };
}

export const REVIEWS: readonly Omit<Review, 'rating'>[] = [
  {
    reviewer: 'Reviewer1',
    text: 'An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!',
  },
  {
    reviewer: 'Reviewer2',
    text: 'Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.',
  },
];

export const RATINGS: Readonly<Record<string, number>> = { Reviewer1: 5, Reviewer2: 4 };

/** A product id from a path segment, or `undefined` when it is not a whole number (the services answer 400). */
export function productId(segment: string): number | undefined {
  return /^[0-9]+$/.test(segment) ? Number(segment) : undefined;
}
